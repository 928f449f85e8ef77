/**
 * kafka-broker-down: under order load, one cell's Kafka broker (`kafka.<cell>`, a `cellctl up
 * --log kafka` child) is SIGKILLed and held down for the window, then started again. The cell
 * must go on accepting orders (its outbox holds the events), no other cell may notice, and after
 * the broker is back every acknowledged order must reach DELIVERED within a bound, none lost
 * (kafka-catch-up.ts). Positive control: the broker's listener refused every TCP probe in the
 * window. Sabotage `--fault-never-ends`: the broker is not started again until the order check is
 * over, so the deliveries cannot catch up and the drill must FAIL. docs/drills.md §The kafka-broker-down drill.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DrillEnv } from '../env/types.js';
import type { ProbeWatch, Probe } from '../env/probe.js';
import { hostPort, watchTcp } from '../env/tcp-probe.js';
import { downObserved } from '../verdicts.js';
import { defaultCell, spillGate } from './cell-faults.js';
import { acceptedWhileDown, CATCH_UP_MS, catchUpVerdicts, type CatchUpFacts } from './kafka-catch-up.js';
import type { DrillHooks } from './hooks.js';
import { checkOrders } from './order-status.js';
import type { Drill, DrillContext } from './types.js';

interface DownState {
  cell: string;
  broker: { component: string; bootstrap: string };
  downAt?: number;
  healAt?: number;
  backAt?: number;
  watch?: ProbeWatch;
  probes?: Probe[];
  /** Set when the broker is still held down after the heal (sabotage). */
  held?: boolean;
}
const states = new WeakMap<DrillContext, DownState>();

function brokerOf(env: DrillEnv, cell: string): { component: string; bootstrap: string } {
  const b = env.kafkaBroker?.(cell);
  if (!b) throw new Error(`kafka-broker-down needs a topology started with cellctl up --log kafka: ${cell} runs no Kafka broker`);
  return b;
}

/** The drill. */
export const KAFKA_BROKER_DOWN: Drill & DrillHooks = {
  name: 'kafka-broker-down',
  description:
    "Kill one cell's Kafka broker (cellctl up --log kafka) under load and hold it down for the window: the cell keeps accepting orders (its outbox holds the events), no spill, and every acknowledged order reaches DELIVERED after the broker is back, none lost.",
  faultCells: (env, opts) => [defaultCell(env.cells(), opts)],
  // No request may fail anywhere: the broker is the cell's log, not its API.
  expectations: () => ({ zeroFailed: true, spillZero: true }),
  gates: () => [...spillGate(), { scope: 'all', maxShare: 0 }],
  // The heal waits for the broker to be ready again: the window lasts until it is back.
  windowUntilHealed: true,
  sabotage: ['faultNeverEnds'],
  preflight(env, opts) {
    brokerOf(env, defaultCell(env.cells(), opts));
  },
  async inject(ctx) {
    const cell = ctx.faultCells[0]!;
    const s: DownState = { cell, broker: brokerOf(ctx.env, cell) };
    states.set(ctx, s);
    await ctx.env.killAndHold(s.broker.component);
    s.downAt = Date.now();
    ctx.mark(`${s.broker.component} (${s.broker.bootstrap}) killed and held down`);
    const { host, port } = hostPort(s.broker.bootstrap);
    s.watch = watchTcp(host, port);
    return undefined;
  },
  async heal(ctx) {
    const s = states.get(ctx);
    if (!s) return;
    s.healAt = Date.now();
    s.probes = await s.watch?.stop();
    const down = s.probes?.filter((p) => !p.answered).length ?? 0;
    ctx.mark(`${s.broker.component}: ${down} of ${s.probes?.length ?? 0} TCP probes of its listener refused in the window`);
    if (ctx.opts.faultNeverEnds) {
      s.held = true;
      ctx.mark(`sabotage (--fault-never-ends): ${s.broker.component} NOT restarted (held down until the order check is over)`);
      return;
    }
    await ctx.env.restart(s.broker.component);
    s.backAt = Date.now();
    ctx.mark(`${s.broker.component} ready again after ${((s.backAt - s.downAt!) / 1000).toFixed(1)} s down`);
  },
  async verify(ctx) {
    const s = states.get(ctx);
    if (!s) return [{ name: 'kafka broker killed', pass: false, measured: 'never injected', threshold: 'injected' }];
    return [downObserved(s.broker.component, s.probes)];
  },
  async afterTraffic(ctx, run) {
    const s = states.get(ctx);
    if (!s || s.downAt === undefined || s.healAt === undefined) return { verdicts: [] };
    try {
      const catchUpMs = ctx.opts.catchUpMs ?? CATCH_UP_MS;
      const facts: CatchUpFacts = { cell: s.cell, downAt: s.downAt, backAt: s.backAt, healAt: s.healAt, catchUpMs };
      const count = await checkOrders(ctx, run.resultsFile, facts);
      writeFileSync(join(run.reportDir, 'kafka-broker-down.json'), `${JSON.stringify({ facts, count }, null, 1)}\n`);
      const outage = { cell: s.cell, downAt: s.downAt, backAt: s.backAt ?? s.healAt };
      return {
        verdicts: [...acceptedWhileDown(run.requests, outage, ctx.opts.planes), ...catchUpVerdicts(count, s.cell, undefined, catchUpMs)],
      };
    } finally {
      if (s.held) {
        // The sabotaged run leaves the topology whole once it is judged.
        await ctx.env.restart(s.broker.component);
        s.held = false;
        ctx.mark(`${s.broker.component} restarted after the order check (sabotage over)`);
      }
    }
  },
};
