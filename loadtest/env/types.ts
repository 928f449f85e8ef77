/**
 * What a drill needs from the topology it runs against: where to send traffic, who owns which
 * market, and the levers to pull (cell faults, stopping and restarting a component, operator
 * commands). `cellctl up` topologies implement it in up-env.ts; tests can implement it too.
 */
import type { Plane, Target } from '../plan.js';

/** A fault for a cell's fault API (docs/contracts.md §Cell admin API, `POST /admin/faults`). */
export interface CellFault {
  kind: 'latency' | 'errors' | 'hang' | 'crash' | 'slow-db';
  durationMs: number;
  latencyMs?: number;
  jitterMs?: number;
  errorRate?: number;
  status?: number;
  route?: string;
}

/** The result of an operator command. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A router replica a drill started itself, outside the topology (router sabotage). */
export interface ExtraRouter {
  /** Its traffic target (plane `router`). */
  target: Target;
  /** Stops it (SIGTERM, then SIGKILL) and waits until it is gone. */
  stop(): Promise<void>;
}

/** The hosts of a `cellctl up --hosts` topology, as a drill needs them. */
export interface HostsInfo {
  consulServers: { host: string; component: string; ip: string; url: string }[];
  /** cell → the namespace of its host. */
  cellNamespaces: Record<string, string>;
  /** Namespace of the client host, where the load generator runs. */
  clientNetns: string;
  /** Consul's management token (a network drill reads Raft state and moves markets through the cluster). */
  consulToken: string;
  /** The CA (PEM) Consul's HTTPS certificate chains to, when the servers' URLs are `https:` (`cellctl up --tls`). */
  consulCa?: string;
  /** The edge hosts and the routers and Envoys on each. */
  edges: { host: string; children: string[] }[];
  /** The control plane's host. */
  controlPlaneHost: string;
}

/** A cell's health in Consul (loadtest/env/consul-read.ts). */
export interface CellHealth {
  /** One of its instances passes every check, its node's included. */
  passing: boolean;
  /** Every check of its instances that does not pass, as `node check status: output`. */
  failing: string[];
}

/** The topology a drill acts on. */
export interface DrillEnv {
  /** Every replica of the given planes. */
  targets(planes: Plane[]): Target[];
  /** Cell IDs, cell-0 (the canary) first. */
  cells(): string[];
  /** The canary cell (takes every rollout first). */
  canaryCell(): string;
  /** market → relative traffic weight, when the topology defines them (else the drill uses a Zipf curve). */
  marketWeights?(): Record<string, number> | undefined;
  /** market → owning cell, as Consul says now. */
  owners(): Promise<Record<string, string>>;
  /** The market's last migration record (id, state, from, to, the notes of its history), as Consul says now; undefined when none. */
  migration?(market: string): Promise<{ id: string; state: string; from: string; to: string; notes: string[] } | undefined>;
  /** cell → the versions its passing instances run (Consul catalog meta). */
  cellVersions(): Promise<Record<string, string[]>>;
  /** cell → its health in Consul (every registered cell; one with no instance registered is absent). */
  cellHealth?(): Promise<Record<string, CellHealth>>;
  /** Injects a fault through the cell's admin API. */
  injectFault(cell: string, fault: CellFault): Promise<void>;
  /** Clears every fault of a cell. */
  clearFaults(cell: string): Promise<void>;
  /** False when Consul is a dev agent that restarts empty (its KV lost). */
  consulPersistent?(): boolean;
  /** Component names the supervisor knows (e.g. `cell-1`, `router-0`, `envoy-1`, `consul`, `control-plane`). */
  components(): string[];
  /** The HTTP URL a component listens on (a drill probes it to see it down); undefined when unknown. */
  componentUrl?(component: string): string | undefined;
  /** Kills a component (SIGKILL) and keeps it down until {@link DrillEnv.restart}. */
  killAndHold(component: string): Promise<void>;
  /** Lets the supervisor start a held component again; resolves when it is ready. */
  restart(component: string): Promise<void>;
  /**
   * Starts one more router on a free port against this topology's Consul, with extra `cellctl
   * router` arguments; it is not registered in Consul nor listed anywhere (router sabotage).
   */
  startExtraRouter?(id: string, args: string[]): Promise<ExtraRouter>;
  /**
   * Under `cellctl up --hosts` (docs/multi-host.md): the Consul servers (host, supervisor child,
   * address, HTTP URL), the hosts of the cells, and the load generator's namespace; undefined on one host.
   */
  hosts?(): HostsInfo | undefined;
  /**
   * Cuts (`cut`) or restores every link of a host of a `cellctl up --hosts` topology; with
   * `from`, cuts only the paths between the host and those hosts (restored with the host).
   */
  partitionHost?(host: string, cut: boolean, from?: readonly string[]): Promise<void>;
  /**
   * The data directory of a cell (its SQLite database, `<data>/cells/<id>`) and the directory of its
   * continuous backup (`<data>/backups/<id>`; docs/contracts.md §Data directory); undefined when the
   * topology does not say (the cell-loss drill refuses to run then).
   */
  cellDirs?(cell: string): { data: string; backup: string } | undefined;
  /**
   * The Kafka broker of a cell under `cellctl up --log kafka`: its supervisor child (`kafka.<cell>`)
   * and bootstrap address; undefined when the cell runs no broker (docs/kafka.md §Brokers under cellctl up).
   */
  kafkaBroker?(cell: string): { component: string; bootstrap: string } | undefined;
  /**
   * The CA certificate file (PEM) its HTTPS endpoints chain to (`cellctl up --tls`:
   * `<data>/tls/ca.crt`; the load generator gets it as vegeta's `-root-certs`); undefined when plain.
   */
  caFile?(): string | undefined;
  /**
   * A fetch of this topology's own endpoints (a component's port, a probe's GET): under `cellctl
   * up --tls` over HTTPS trusting its CA, `http:` URLs unchanged; absent: Node's global fetch.
   */
  fetch?: (url: string, init?: RequestInit) => Promise<Response>;
  /** Runs a `cellctl` operator command against this topology. */
  cellctl(args: string[], timeoutMs?: number): Promise<CommandResult>;
  /** Stops what this env started (a topology it found running is left alone). */
  close(): Promise<void>;
}
