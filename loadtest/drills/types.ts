/** The shape of a drill: what it aims at, what it does at fault start and end, what it is held to. */
import type { DrillEnv } from '../env/types.js';
import type { Plane } from '../plan.js';
import type { Expectations, FailureGate, Verdict } from '../verdicts.js';

/** Options every drill takes (`cellctl drill <name> [...]`). */
export interface DrillOptions {
  planes: Plane[];
  durationMs: number;
  /** Requests per second (open model). */
  rate: number;
  /** The cell to fault (cell drills), default cell-1. */
  cell?: string;
  /** Sabotage: inject the cell fault into every cell; the spill verdicts must then fail. */
  faultEveryCell?: boolean;
  /** Sabotage: go through the drill's steps but inject nothing; the "fault observed" verdict must then fail. */
  faultNeverStarts?: boolean;
  /** Sabotage: the router plane is an extra router that sends every market to one cell; "wrong-cell answers (router)" must then fail. */
  routerOneCell?: boolean;
  /** Sabotage: the router plane is an extra router with hang isolation off; "time to isolate (router)" must then fail. */
  routerIsolationOff?: boolean;
  /** Sabotage (kafka-broker-down): the killed broker is not started again until the order check is over; "acknowledged orders DELIVERED after the broker is back" must then fail. */
  faultNeverEnds?: boolean;
  /** Sabotage (cell-loss): recover from a copy of the backup taken before the load; "orders acknowledged before the recovery point survive" must then fail. */
  staleBackup?: boolean;
  /** Per-request timeout of the load generator, ms. */
  requestTimeoutMs?: number;
  /** kafka-broker-down, delivery-down: how long after the outage every acknowledged order must be DELIVERED, ms (default 60 s). */
  catchUpMs?: number;
  /** Operation mix (relative weights); default create 35, get 30, list 25, cancel 10. */
  mix?: Record<'create' | 'get' | 'list' | 'cancel', number>;
}

/**
 * Sabotage switches (`--fault-every-cell`, `--fault-never-starts`, `--router-one-cell`,
 * `--router-isolation-off`, `--stale-backup`, `--fault-never-ends`), as {@link DrillOptions} keys: a run broken on purpose.
 */
export type Sabotage = 'faultEveryCell' | 'faultNeverStarts' | 'routerOneCell' | 'routerIsolationOff' | 'staleBackup' | 'faultNeverEnds';

/** Passed to a drill's actions. */
export interface DrillContext {
  env: DrillEnv;
  opts: DrillOptions;
  /** Cells whose markets the fault is aimed at. */
  faultCells: string[];
  /** Planned fault window length, ms. */
  windowMs: number;
  /** Records a timeline event for the report. */
  mark(what: string): void;
}

/** What an injection reports back. */
export interface Injected {
  /** The replica name (as in the traffic targets) that was killed at the window start. */
  killedReplica?: string;
  /** Replicas killed later in the window, each at its time (epoch ms). */
  laterKills?: { replica: string; at: number }[];
  /**
   * When the fault was in place (epoch ms), when that is known and later than the call to inject
   * (a cut link, link-watch.ts): the window, and so the time to isolate, starts there.
   */
  faultAt?: number;
}

/** One drill. */
export interface Drill {
  name: string;
  description: string;
  /** The cells whose markets are expected to suffer (empty for infrastructure faults). */
  faultCells(env: DrillEnv, opts: DrillOptions): string[];
  /** Targets (issue 7) this drill is held to. */
  expectations(opts: DrillOptions): Expectations;
  /** Caps on the failed share of requests, judged over the whole run. */
  gates(opts: DrillOptions): FailureGate[];
  /** Refuses to run on a topology the drill cannot work on (before any traffic). */
  preflight?(env: DrillEnv, opts: DrillOptions): void;
  /** Starts the fault (called at the window start). */
  inject(ctx: DrillContext): Promise<Injected | undefined>;
  /** Ends the fault (called at the window end); may wait for the operation it started. */
  heal(ctx: DrillContext): Promise<void>;
  /** Extra verdicts checked after the run (e.g. the rollout stopped at cell-0). */
  verify?(ctx: DrillContext): Promise<Verdict[]>;
  /**
   * The drill moves a market: before any traffic every cell must pass its Consul checks, waited
   * for up to 30 s (drills/settle.ts), or the drill refuses to run, naming the cells that do not.
   */
  movesMarkets?: boolean;
  /** The fault window lasts until the heal is done (an operation that runs its own course). */
  windowUntilHealed?: boolean;
  /** Traffic shaping: this cell carries at least this share (a canary bake needs volume to judge). */
  minShare?(env: DrillEnv): { cell: string; share: number };
  /** Planes used when --plane is not given. */
  defaultPlanes?: Plane[];
  /** The sabotage switches this drill applies (others are refused); none when absent. */
  sabotage?: readonly Sabotage[];
}
