/** The configuration of a local topology (`cellctl up` flags), with defaults in one place. */
import type { TokenKind } from '../shared/tokens.js';
import type { HostPlan } from './hosts/plan.js';
import type { PortPlan } from './ports.js';

/** Everything `cellctl up` needs to build its children. */
export interface TopologyConfig {
  dataDir: string;
  /** Number of cells: cell-0 (the small canary) … cell-(n-1). */
  cells: number;
  ports: PortPlan;
  /** Persistent Consul (data under <data>/consul) instead of a dev agent. */
  persist: boolean;
  prefix: string;
  /** The token files under `<data>/tokens/` (shared/tokens.ts): children get these paths, never a secret on argv. */
  tokenFiles: Record<TokenKind, string>;
  /** Router hold bound for frozen markets (ms). */
  holdMs: number;
  /** Version a cell runs when Consul has no record of it yet. */
  initialVersion: string;
  /** Log level of every child. */
  logLevel: string;
  /**
   * `--hosts`: every child on its host's network namespace at the host's address (every host
   * uses the default ports), a 3-server Consul cluster, a client agent per other host
   * (docs/multi-host.md). Undefined: everything on 127.0.0.1, one Consul agent.
   */
  hosts?: HostPlan;
  /** `--tls`: every hop that supports it over TLS with the certificates under `<data>/tls/` (topology/tls.ts). */
  tls?: boolean;
  /** `--log`: the cells' event log, in each cell's database (`sqlite`) or on a Kafka broker of its own (`kafka`, topology/kafka.ts). */
  log?: 'sqlite' | 'kafka';
  /**
   * `--split-cells`: under `--log kafka`, the cells split into an order and a delivery service
   * (choreographed saga, docs/kafka.md §Order and delivery services); every other cell, added ones
   * included, runs as one process (orchestrated saga). Undefined: every cell is split.
   */
  splitCells?: readonly string[];
}

/** Whether `cell` runs as an order and a delivery service (`--log kafka`, named by `--split-cells` or every cell by default). */
export function isSplit(cfg: Pick<TopologyConfig, 'log' | 'splitCells'>, cell: string): boolean {
  return cfg.log === 'kafka' && (cfg.splitCells === undefined || cfg.splitCells.includes(cell));
}

/** Defaults for every optional setting. */
export const TOPOLOGY_DEFAULTS = {
  dataDir: '.cellsim',
  cells: 4,
  prefix: 'cellsim/',
  holdMs: 2000,
  initialVersion: 'v1',
  logLevel: 'info',
  /** cell-0 is small: it owns a few markets and has room for few. */
  canaryCapacity: 8,
  capacity: 40,
} as const;

/** The cell marked global: cell-1 when there is one (the canary stays small), else cell-0. */
export function globalCell(cells: number): string {
  return cells > 1 ? 'cell-1' : 'cell-0';
}

/** The ids of the cells, cell-0 first. */
export function cellIds(cells: number): string[] {
  return Array.from({ length: cells }, (_, i) => `cell-${i}`);
}
