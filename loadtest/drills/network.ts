/**
 * Network drills on `cellctl up --hosts` (docs/multi-host.md): faults of the cluster rather than
 * of a process. `consul-leader-loss` kills the Raft leader under load: a new leader is elected,
 * no request fails, and a market moved right after the election moves. Its positive control is
 * the leader change itself: with --fault-never-starts the leader stays and the verdict fails.
 */
import { ConsulClient } from '../../shared/consul/client.js';
import type { DrillEnv, HostsInfo } from '../env/types.js';
import type { Verdict } from '../verdicts.js';
import { watchLink, watchLinkDown } from './link-watch.js';
import { describeNotPassing, waitPassing } from './settle.js';
import { CELL_SABOTAGE, defaultCell, fastFailExpectations, spillGate, targetCells } from './cell-faults.js';
import { planMoves } from './operations.js';
import type { Drill, DrillContext } from './types.js';

/** How long the drill waits for a new leader (Raft at multiplier 1 elects in 1–3 s). */
const ELECTION_BOUND_MS = 15_000;

/** What one leader-loss run saw. */
interface LeaderLoss {
  before?: string;
  after?: string;
  electionMs?: number;
  move?: { market: string; from: string; to: string; code: number; detail: string };
}
const runs = new WeakMap<DrillContext, LeaderLoss>();

export function hostsOf(env: DrillEnv): HostsInfo {
  const h = env.hosts?.();
  if (!h || h.consulServers.length < 3)
    throw new Error('this drill needs a cellctl up --hosts topology (3 Consul servers): see docs/multi-host.md');
  return h;
}

const servers = new Map<string, ConsulClient>();

/** One client per server URL (under `--tls` each holds its HTTPS connections, trusting the topology's CA). */
function consulOf(h: HostsInfo, url: string): ConsulClient {
  let c = servers.get(url);
  if (!c) servers.set(url, (c = new ConsulClient({ url, token: h.consulToken, ca: h.consulCa })));
  return c;
}

/** The host of the Raft leader as the servers in `servers` (but `skip`) see it; undefined when none answers with one. */
async function leaderHost(h: HostsInfo, skip?: string): Promise<string | undefined> {
  for (const s of h.consulServers.filter((x) => x.host !== skip)) {
    const addr = await consulOf(h, s.url)
      .status.leader({ timeoutMs: 1000 })
      .catch(() => '');
    const host = h.consulServers.find((x) => addr.startsWith(`${x.ip}:`))?.host;
    if (host) return host;
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The link-name prefix of `cell`'s run: `cs-<run>-` (its namespace is `cs-<run>-<host>`, docs/multi-host.md §Names and cleanup). */
function runPrefix(h: HostsInfo, cell: string): string {
  const ns = h.cellNamespaces[cell];
  const m = ns === undefined ? null : /^(cs-[0-9a-f]+-)/.exec(ns);
  if (!m) throw new Error(`no network namespace known for ${cell}`);
  return m[1]!;
}

/**
 * Waits (at most `ms`) until every server is in the Raft configuration again: a server that was
 * down is dropped by autopilot and comes back as a voter only after it has been stable, and a
 * leader killed before that leaves no quorum.
 */
async function allVoters(h: HostsInfo, ms: number): Promise<boolean> {
  for (const until = Date.now() + ms; Date.now() < until; await sleep(250)) {
    const s = h.consulServers[h.consulServers.length - 1]!;
    const peers = await consulOf(h, s.url)
      .status.peers({ timeoutMs: 1000 })
      .catch(() => []);
    if (peers.length === h.consulServers.length) return true;
  }
  return false;
}

/** The market owners, read again for up to 10 s while the cluster settles after an election. */
async function ownersNow(env: DrillEnv): Promise<Record<string, string>> {
  for (let i = 0; ; i++) {
    try {
      return await env.owners();
    } catch (err) {
      if (i >= 20) throw err;
      await sleep(500);
    }
  }
}

/** The verdicts of a leader-loss run. */
export function leaderLossVerdicts(s: LeaderLoss | undefined): Verdict[] {
  const changed = s?.before !== undefined && s.after !== undefined && s.after !== s.before;
  const moved = s?.move?.code === 0;
  return [
    {
      name: 'Raft leader lost and replaced',
      pass: changed,
      measured: `leader ${s?.before ?? 'unknown'} -> ${s?.after ?? 'none'}${s?.electionMs === undefined ? '' : ` in ${s.electionMs} ms`}`,
      threshold: `another server leads within ${ELECTION_BOUND_MS / 1000} s`,
    },
    {
      name: 'market move right after the election',
      pass: moved,
      measured: s?.move
        ? `migrate ${s.move.market} ${s.move.from} -> ${s.move.to}: exit ${s.move.code}${moved ? '' : ` (${s.move.detail})`}`
        : 'not tried',
      threshold: 'exit 0',
    },
  ];
}

const consulLeaderLoss: Drill = {
  name: 'consul-leader-loss',
  movesMarkets: true,
  description:
    'Kill the Consul Raft leader (cellctl up --hosts) under load and keep it down for the window: another server is elected, no request fails, and a market moved right after the election moves.',
  faultCells: () => [],
  expectations: () => ({ zeroFailed: true, spillZero: true }),
  gates: () => [{ scope: 'all', maxShare: 0 }],
  windowUntilHealed: true,
  sabotage: ['faultNeverStarts'],
  preflight: (env) => void hostsOf(env),
  async inject(ctx) {
    const h = hostsOf(ctx.env);
    const s: LeaderLoss = {};
    runs.set(ctx, s);
    if (!(await allVoters(h, 60_000))) throw new Error('the Consul servers are not all Raft voters after 60 s: cellctl status');
    s.before = await leaderHost(h);
    if (!s.before) throw new Error('no Consul server names a leader');
    const t0 = Date.now();
    if (ctx.opts.faultNeverStarts) ctx.mark(`sabotage (--fault-never-starts): leader ${s.before} NOT killed`);
    else {
      await ctx.env.killAndHold(`consul.${s.before}`);
      ctx.mark(`Raft leader ${s.before} killed and held down`);
    }
    for (const until = t0 + ELECTION_BOUND_MS; Date.now() < until; await sleep(100)) {
      // The survivors name the old leader until they notice it gone; under sabotage the one there is.
      const now = await leaderHost(h, ctx.opts.faultNeverStarts ? undefined : s.before);
      if (now && (now !== s.before || ctx.opts.faultNeverStarts)) {
        s.after = now;
        s.electionMs = Date.now() - t0;
        break;
      }
    }
    ctx.mark(s.after ? `leader now ${s.after} (${s.electionMs} ms after the kill)` : 'no leader elected in time');
    if (ctx.opts.faultNeverStarts) return undefined;
    // Never throws from here on: the heal must bring the killed server back.
    try {
      const [m] = planMoves(await ownersNow(ctx.env), ctx.env.cells(), ctx.env.canaryCell(), 1, ctx.env.marketWeights?.());
      if (!m) return undefined;
      ctx.mark(`migrate ${m.market} ${m.from} -> ${m.to}`);
      const r = await ctx.env.cellctl(['migrate', m.market, '--to', m.to], 60_000);
      s.move = { ...m, code: r.code, detail: (r.stderr || r.stdout).trim().split('\n').slice(-1)[0] ?? '' };
      ctx.mark(`migrate ${m.market} exit ${r.code}`);
    } catch (err) {
      ctx.mark(`no market move: ${(err as Error).message}`);
    }
    return undefined;
  },
  async heal(ctx) {
    const s = runs.get(ctx);
    if (ctx.opts.faultNeverStarts || !s?.before) return;
    await ctx.env.restart(`consul.${s.before}`);
    ctx.mark(`consul.${s.before} ready again`);
    const h = hostsOf(ctx.env);
    ctx.mark(
      (await allVoters(h, 60_000)) ? 'all 3 servers are Raft voters again' : 'not all servers are Raft voters 60 s after the restart',
    );
  },
  verify: async (ctx) => leaderLossVerdicts(runs.get(ctx)),
};

const hostPartition: Drill = {
  name: 'host-partition',
  description:
    "Cut every link of one cell's host (cellctl up --hosts) under load for the window, then restore it: only that cell's markets fail, isolated as for a crash, and they recover once the link is back.",
  faultCells: (env, opts) => [defaultCell(env.cells(), opts)],
  expectations: fastFailExpectations,
  gates: spillGate,
  sabotage: CELL_SABOTAGE,
  preflight: (env) => void hostsOf(env),
  async inject(ctx) {
    let faultAt: number | undefined;
    for (const cell of targetCells(ctx)) {
      if (ctx.opts.faultNeverStarts) {
        ctx.mark(`sabotage (--fault-never-starts): host ${cell} NOT partitioned`);
        continue;
      }
      // The window starts when the first link is down (the supervisor's call can take seconds on
      // a loaded machine); when the watch saw nothing, at the call, as before.
      const watch = faultAt === undefined ? await watchLinkDown(runPrefix(hostsOf(ctx.env), cell), 30_000) : undefined;
      const called = Date.now();
      await ctx.env.partitionHost!(cell, true);
      ctx.mark(`host ${cell}: every link cut`);
      if (!watch) continue;
      const down = await Promise.race([watch.down, sleep(1000).then(() => undefined)]);
      watch.stop();
      ctx.mark(
        down === undefined
          ? `host ${cell}: link going down not seen by ip monitor, the window starts at the call`
          : `host ${cell}: link down ${down - called} ms after the call (the window starts there)`,
      );
      faultAt = down;
    }
    return faultAt === undefined ? undefined : { faultAt };
  },
  async heal(ctx) {
    const back: ConsulBack[] = [];
    backs.set(ctx, back);
    for (const cell of targetCells(ctx)) {
      if (ctx.opts.faultNeverStarts) continue;
      const watch = await watchLink(runPrefix(hostsOf(ctx.env), cell), 30_000, true);
      const called = Date.now();
      await ctx.env.partitionHost!(cell, false);
      const up = await Promise.race([watch.down, sleep(1000).then(() => undefined)]);
      watch.stop();
      ctx.mark(`host ${cell}: link restored${up === undefined ? ' (link coming up not seen by ip monitor: counted from the call)' : ''}`);
      // Timed in the background from here (the recovery phase runs meanwhile); verify waits for it.
      const linkUp = up ?? called;
      const waitFrom = Date.now();
      back.push({
        cell,
        linkUp,
        wait: waitPassing(ctx.env, [cell], CONSUL_BACK_BOUND_MS).then((w) => {
          const after = w.passedAfter[cell];
          const ms = after === undefined ? undefined : waitFrom + after - linkUp;
          ctx.mark(
            ms === undefined
              ? `host ${cell}: not passing in Consul ${CONSUL_BACK_BOUND_MS / 1000} s after the restore: ${describeNotPassing(w.notPassing)}`
              : `host ${cell}: passing in Consul again ${ms} ms after its link came back`,
          );
          return ms === undefined ? { why: describeNotPassing(w.notPassing) } : { ms };
        }),
      });
    }
  },
  verify: async (ctx) => consulBackVerdicts(await settled(backs.get(ctx) ?? [])),
};

/** A cut cell host restored by `host-partition`: when its link came up, and when its cell passed in Consul again. */
interface ConsulBack {
  cell: string;
  linkUp: number;
  wait: Promise<{ ms?: number; why?: string }>;
}
const backs = new WeakMap<DrillContext, ConsulBack[]>();

/** The target (issue 16: "the cell's markets recover when the link returns"): its cell passes in Consul again within 10 s. */
export const CONSUL_BACK_MS = 10_000;
/** How long the drill keeps timing it. */
const CONSUL_BACK_BOUND_MS = 20_000;

async function settled(b: ConsulBack[]): Promise<{ cell: string; ms?: number; why?: string }[]> {
  return Promise.all(b.map(async (x) => ({ cell: x.cell, ...(await x.wait) })));
}

/**
 * `host-partition`'s verdict per restored host: its cell passes its Consul checks again (node
 * included: a host cut long enough is declared dead by Serf) within {@link CONSUL_BACK_MS} of its
 * link coming back; a move's validation and the routers' passing set need it (docs/drills.md §Network drills).
 */
export function consulBackVerdicts(back: { cell: string; ms?: number; why?: string }[]): Verdict[] {
  return back.map((b) => ({
    name: `passing in Consul again after the link came back (${b.cell})`,
    pass: b.ms !== undefined && b.ms <= CONSUL_BACK_MS,
    measured: b.ms !== undefined ? `${b.ms} ms` : `not within ${CONSUL_BACK_BOUND_MS / 1000} s: ${b.why ?? 'unknown'}`,
    threshold: `<= ${CONSUL_BACK_MS} ms`,
  }));
}

/** The network drills, in the order of issue 16. */
export const NETWORK_DRILLS: Drill[] = [consulLeaderLoss, hostPartition];
