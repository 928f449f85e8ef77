/**
 * delivery-down (the Valve idea): under order load, every delivery process of one cell
 * (`<cell>.delivery-N`, children of `cellctl up --log kafka`) is SIGKILLed and held down for the
 * window, then started again. The cell's order service must go on accepting orders (a delivery
 * outage is not an order outage), the delivery backlog on the cell's orders topic must drain after
 * the window, and every acknowledged order must reach DELIVERED, none lost (kafka-catch-up.ts).
 * Positive controls: each delivery process's listener refused every TCP probe in the window, and
 * a backlog built up. Sabotage `--fault-never-ends`: the delivery processes are not started again
 * until the order check is over, so nothing drains and the drill must FAIL.
 * docs/drills.md §The delivery-down drill.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DrillEnv } from '../env/types.js';
import type { ProbeWatch, Probe } from '../env/probe.js';
import { hostPort, watchTcp } from '../env/tcp-probe.js';
import { downObserved } from '../verdicts.js';
import { defaultCell, spillGate } from './cell-faults.js';
import { deliveryBacklog, drainVerdict, followDrain, type BacklogFacts } from './delivery-lag.js';
import { acceptedWhileDown, CATCH_UP_MS, catchUpVerdicts, type CatchUpFacts } from './kafka-catch-up.js';
import type { DrillHooks } from './hooks.js';
import { checkOrders } from './order-status.js';
import type { Drill, DrillContext } from './types.js';

const WHAT = { the: 'the delivery service', its: 'its delivery service' };

/** The delivery children `cellctl up --log kafka` runs per cell (topology/delivery.ts): killed first, before the listing. */
const KNOWN_INSTANCES = 2;

interface Proc {
  name: string;
  url: string;
  watch?: ProbeWatch;
  probes?: Probe[];
}

interface DownState {
  cell: string;
  bootstrap: string;
  procs: Proc[];
  downAt?: number;
  healAt?: number;
  backAt?: number;
  backlog: BacklogFacts;
  drain?: Promise<void>;
  held?: boolean;
}
const states = new WeakMap<DrillContext, DownState>();

/** The cell's broker (only `cellctl up --log kafka` splits cells into order and delivery services). */
function brokerOf(env: DrillEnv, cell: string): string {
  const b = env.kafkaBroker?.(cell);
  if (!b) throw new Error(`delivery-down needs a topology started with cellctl up --log kafka: ${cell} runs no delivery service`);
  return b.bootstrap;
}

/** The cell's delivery processes, from `cellctl status --json`. */
async function deliveryProcs(env: DrillEnv, cell: string): Promise<Proc[]> {
  const r = await env.cellctl(['status', '--json'], 15_000);
  if (r.code !== 0) throw new Error(`cellctl status --json exited ${r.code}: ${r.stderr.trim().split('\n')[0]}`);
  const list =
    (JSON.parse(r.stdout) as { processes?: { name: string; kind: string; cell?: string; url?: string }[] | null }).processes ?? [];
  const procs = list.filter((p) => p.kind === 'delivery' && p.cell === cell && p.url).map((p) => ({ name: p.name, url: p.url! }));
  if (!procs.length) throw new Error(`delivery-down: cellctl status lists no delivery process of ${cell}`);
  return procs;
}

async function restartAll(ctx: DrillContext, s: DownState): Promise<void> {
  await Promise.all(s.procs.map((p) => ctx.env.restart(p.name)));
  s.backAt = Date.now();
}

/** The drill. */
export const DELIVERY_DOWN: Drill & DrillHooks = {
  name: 'delivery-down',
  description:
    'Kill every delivery process of one cell (cellctl up --log kafka) under load and hold them down for the window: the cell keeps accepting orders, no spill, the delivery backlog drains after, and every acknowledged order reaches DELIVERED, none lost.',
  faultCells: (env, opts) => [defaultCell(env.cells(), opts)],
  // No request may fail anywhere: delivery is behind the orders topic, not in the order path.
  expectations: () => ({ zeroFailed: true, spillZero: true }),
  gates: () => [...spillGate(), { scope: 'all', maxShare: 0 }],
  windowUntilHealed: true,
  // A longer window than the default 35 %: the first seconds go to listing the processes.
  phases: { before: 0.3, window: 0.45 },
  sabotage: ['faultNeverEnds'],
  preflight(env, opts) {
    brokerOf(env, defaultCell(env.cells(), opts));
  },
  async inject(ctx) {
    const cell = ctx.faultCells[0]!;
    const s: DownState = { cell, bootstrap: brokerOf(ctx.env, cell), procs: [], backlog: {} };
    states.set(ctx, s);
    // Kill the known instances at once (listing them through cellctl takes seconds of the window),
    // then any other the listing shows; the listing gives the ports to probe.
    const known = Array.from({ length: KNOWN_INSTANCES }, (_, i) => `${cell}.delivery-${i + 1}`);
    await Promise.all(known.map((n) => ctx.env.killAndHold(n)));
    s.downAt = Date.now();
    s.procs = await deliveryProcs(ctx.env, cell);
    await Promise.all(s.procs.filter((p) => !known.includes(p.name)).map((p) => ctx.env.killAndHold(p.name)));
    ctx.mark(`${s.procs.map((p) => p.name).join(', ')} killed and held down`);
    for (const p of s.procs) {
      const { host, port } = hostPort(new URL(p.url).host);
      p.watch = watchTcp(host, port);
    }
    return undefined;
  },
  async heal(ctx) {
    const s = states.get(ctx);
    if (!s) return;
    s.healAt = Date.now();
    for (const p of s.procs) p.probes = await p.watch?.stop();
    try {
      s.backlog.atHeal = await deliveryBacklog(s.bootstrap, s.cell);
    } catch (err) {
      s.backlog.error = (err as Error).message;
    }
    ctx.mark(`${s.cell}: delivery backlog ${s.backlog.atHeal ?? 'unread'} records at the window's end`);
    if (ctx.opts.faultNeverEnds) {
      s.held = true;
      ctx.mark(
        `sabotage (--fault-never-ends): ${s.procs.map((p) => p.name).join(', ')} NOT restarted (held down until the order check is over)`,
      );
    } else {
      await restartAll(ctx, s);
      s.backlog.backAt = s.backAt;
      ctx.mark(`${s.cell}'s delivery service ready again after ${((s.backAt! - s.downAt!) / 1000).toFixed(1)} s down`);
    }
    s.drain = followDrain(
      () => deliveryBacklog(s.bootstrap, s.cell),
      s.backlog,
      (s.backAt ?? s.healAt) + (ctx.opts.catchUpMs ?? CATCH_UP_MS),
    );
  },
  async verify(ctx) {
    const s = states.get(ctx);
    if (!s) return [{ name: 'delivery service killed', pass: false, measured: 'never injected', threshold: 'injected' }];
    return s.procs.map((p) => downObserved(p.name, p.probes));
  },
  async afterTraffic(ctx, run) {
    const s = states.get(ctx);
    if (!s || s.downAt === undefined || s.healAt === undefined) return { verdicts: [] };
    try {
      const catchUpMs = ctx.opts.catchUpMs ?? CATCH_UP_MS;
      const facts: CatchUpFacts = { cell: s.cell, downAt: s.downAt, backAt: s.backAt, healAt: s.healAt, catchUpMs };
      const count = await checkOrders(ctx, run.resultsFile, facts);
      await s.drain;
      writeFileSync(join(run.reportDir, 'delivery-down.json'), `${JSON.stringify({ facts, count, backlog: s.backlog }, null, 1)}\n`);
      const outage = { cell: s.cell, downAt: s.downAt, backAt: s.backAt ?? s.healAt };
      return {
        verdicts: [
          ...acceptedWhileDown(run.requests, outage, ctx.opts.planes, WHAT),
          drainVerdict(s.backlog, s.cell, catchUpMs),
          ...catchUpVerdicts(count, s.cell, WHAT, catchUpMs),
        ],
      };
    } finally {
      if (s.held) {
        // The sabotaged run leaves the topology whole once it is judged.
        await restartAll(ctx, s);
        s.held = false;
        ctx.mark(`${s.cell}'s delivery service restarted after the order check (sabotage over)`);
      }
    }
  },
};
