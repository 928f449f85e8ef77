/**
 * external-kill: a fault from outside the product. Every kind of child — a router, a cell,
 * Consul, the control plane, an Envoy — is SIGKILLed in turn by the pid `cellctl status --json`
 * lists (what a chaos tool or an operator would kill), not through the supervisor. The
 * supervisor must notice on its own, leave nothing orphaned, and have each child back, ready,
 * within 5 s; the other cells' markets must not notice (spill 0).
 */
import { groupMembers, readProc } from '../../infra/procs.js';
import type { DrillEnv } from '../env/types.js';
import type { Verdict } from '../verdicts.js';
import type { Drill, DrillContext } from './types.js';

/** Each child must be ready again this soon after its kill (issue 14). */
export const BACK_WITHIN_MS = 5000;
/** How long to wait for a child before giving up on it (it then fails its verdict). */
const GIVE_UP_MS = 30_000;
/** The order of the kills; a router first, so its in-flight requests are the window's killed replica's. */
const KINDS = ['router', 'cell', 'consul', 'control-plane', 'envoy'] as const;

/** A process as `cellctl status --json` lists it. */
interface Process {
  name: string;
  kind: string;
  state: string;
  pid: number | null;
  /** Its watchdog: the leader of its process group. */
  wrapperPid?: number | null;
  cell?: string;
  readyAt?: string;
}

/** What happened to one killed child. */
interface Kill {
  name: string;
  kind: string;
  pid: number;
  /** The killed child's process group (its watchdog's pid). */
  group: number | null;
  at: number;
  /** ms from the kill until the supervisor had it ready again (its own `readyAt`); null: never. */
  backMs: number | null;
  newPid: number | null;
  /** Processes of the killed child's group still alive once it is back (orphans). */
  left: string[];
}

const kills = new WeakMap<DrillContext, Kill[]>();
/**
 * The listing read before the traffic starts, so that the first kill lands at the window start:
 * the engine counts requests in flight on the killed replica at that moment as in flight, not spill.
 */
const early = new WeakMap<DrillEnv, Promise<Process[] | undefined>>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The processes `cellctl status --json` lists; throws when it cannot say. */
async function processes(env: DrillEnv): Promise<Process[]> {
  const r = await env.cellctl(['status', '--json'], 15_000);
  if (r.code !== 0) throw new Error(`cellctl status --json exited ${r.code}: ${r.stderr.trim().split('\n')[0]}`);
  const list = (JSON.parse(r.stdout) as { processes?: Process[] | null }).processes;
  if (!list) throw new Error('cellctl status --json lists no processes (is this topology run by cellctl up?)');
  return list;
}

/** What is left alive of process group `group`. */
const leftOf = (group: number | null) => (group ? groupMembers(group).map((p) => `${p.pid} ${p.comm}`) : []);

/** The child of `kind` to kill: the faulted cell's running instance, the last router or Envoy. */
function victim(list: Process[], kind: (typeof KINDS)[number], cell: string): Process | undefined {
  const running = list.filter((p) => p.kind === kind && p.state === 'running' && p.pid !== null);
  return kind === 'cell' ? running.find((p) => p.cell === cell) : running.at(-1);
}

/** True while `p`'s listed pid is still that child's (in its watchdog's process group), not a reused pid. */
const stillListed = (p: Process) => p.pid !== null && p.wrapperPid != null && readProc(p.pid)?.pgid === p.wrapperPid;

/** Kills `p` by its listed pid and waits until the supervisor has it running on a new pid. */
async function killAndWatch(ctx: DrillContext, p: Process): Promise<Kill> {
  const pid = p.pid!;
  const at = Date.now();
  process.kill(pid, 'SIGKILL');
  ctx.mark(`${p.name}: SIGKILL to pid ${pid} (the pid cellctl status lists)`);
  const kill: Kill = { name: p.name, kind: p.kind, pid, group: p.wrapperPid ?? null, at, backMs: null, newPid: null, left: [] };
  for (const until = at + GIVE_UP_MS; Date.now() < until; await sleep(250)) {
    // The control plane answers `cellctl status`: while it restarts, status fails; keep asking.
    const now = await processes(ctx.env).catch(() => undefined);
    const p2 = now?.find((x) => x.name === p.name);
    if (p2?.state === 'running' && p2.pid !== null && p2.pid !== pid && p2.readyAt) {
      kill.newPid = p2.pid;
      kill.backMs = Date.parse(p2.readyAt) - at;
      break;
    }
  }
  kill.left = leftOf(kill.group);
  const orphans = kill.left.length ? `; LEFT ALIVE of its old group: ${kill.left.join(', ')}` : '';
  ctx.mark(
    kill.backMs === null
      ? `${p.name}: not back after ${GIVE_UP_MS / 1000} s${orphans}`
      : `${p.name}: back in ${kill.backMs} ms as pid ${kill.newPid}${orphans}`,
  );
  return kill;
}

/** The drill. */
export const EXTERNAL_KILL: Drill = {
  name: 'external-kill',
  description: `SIGKILL every kind of child in turn (router, cell, Consul, control plane, Envoy) by the pid cellctl status lists; each must be back within ${BACK_WITHIN_MS / 1000} s with nothing orphaned, and no other cell may notice.`,
  faultCells: (env, opts) => {
    const cells = env.cells();
    const cell = opts.cell ?? cells.find((c) => c !== env.canaryCell()) ?? cells[0];
    if (!cell || !cells.includes(cell)) throw new Error(`unknown cell '${String(cell)}' (cells: ${cells.join(', ')})`);
    return [cell];
  },
  // The faulted cell's markets fail while it restarts (the positive control: the kill bit, on
  // either plane, a second or two at the drill's rate); every other market must not.
  expectations: () => ({ faultObserved: { minFailed: 1, pooled: true }, spillZero: true }),
  sabotage: ['faultNeverStarts'],
  gates: () => [{ scope: 'other', maxShare: 0 }],
  preflight(env) {
    if (env.consulPersistent?.() === false) {
      throw new Error(
        'external-kill kills Consul: it needs a persistent Consul (cellctl up --persist); a dev agent restarts with an empty KV store',
      );
    }
    early.set(
      env,
      processes(env).catch(() => undefined),
    );
  },
  async inject(ctx) {
    const done: Kill[] = [];
    kills.set(ctx, done);
    let replica: string | undefined;
    let list = await early.get(ctx.env);
    early.delete(ctx.env);
    if (ctx.opts.faultNeverStarts) {
      ctx.mark('sabotage (--fault-never-starts): nothing killed');
      return undefined;
    }
    for (const kind of KINDS) {
      let p = list && victim(list, kind, ctx.faultCells[0]!);
      if (!p || !stillListed(p)) p = victim((list = await processes(ctx.env)), kind, ctx.faultCells[0]!);
      list = undefined;
      if (!p) throw new Error(`external-kill: no running ${kind} in cellctl status --json`);
      if ((kind === 'router' || kind === 'envoy') && replica === undefined) replica = p.name;
      done.push(await killAndWatch(ctx, p));
    }
    // Data-plane replicas killed after the first: their in-flight requests count as in flight too.
    const laterKills = done
      .filter((k) => (k.kind === 'router' || k.kind === 'envoy') && k.name !== replica)
      .map((k) => ({ replica: k.name, at: k.at }));
    return { killedReplica: replica, laterKills };
  },
  async heal(ctx) {
    ctx.mark(`every kind of child killed once (${(kills.get(ctx) ?? []).map((k) => k.name).join(', ')})`);
  },
  async verify(ctx) {
    const done = kills.get(ctx) ?? [];
    const out: Verdict[] = KINDS.map((kind) => {
      const k = done.find((x) => x.kind === kind);
      return {
        name: `${k?.name ?? kind} back after SIGKILL of its listed pid`,
        pass: k !== undefined && k.backMs !== null && k.backMs <= BACK_WITHIN_MS,
        measured: !k ? 'not killed' : k.backMs === null ? 'never' : `${k.backMs} ms (pid ${k.pid} → ${k.newPid})`,
        threshold: `<= ${BACK_WITHIN_MS} ms`,
      };
    });
    const orphans = done.flatMap((k) => [...new Set([...k.left, ...leftOf(k.group)])].map((p) => `${k.name}: ${p}`));
    out.push({
      name: 'nothing orphaned (no process left of a killed child’s group)',
      pass: done.length === KINDS.length && done.every((k) => k.group !== null) && orphans.length === 0,
      measured: orphans.length ? orphans.join(', ') : `${done.length} groups, none left`,
      threshold: 'none left',
    });
    return out;
  },
};
