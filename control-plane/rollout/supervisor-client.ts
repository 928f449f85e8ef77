/**
 * The control plane's handle on cell processes: the `cellctl up` supervisor's control channel
 * (docs/operators.md, "Supervisor control API"). Rollouts start a cell's idle color with a
 * new version beside the live one, and stop the old color when done.
 */

import { ERROR_CODES, HttpError, type ErrorCode } from '../../shared/errors.js';

/** One child as the supervisor reports it. */
export interface ChildStatus {
  name: string;
  kind: string;
  state: 'starting' | 'running' | 'backoff' | 'stopped' | 'down' | 'hung' | 'port-taken' | 'failed';
  /** The process that listens. */
  pid: number | null;
  restarts: number;
  keepDown: boolean;
  port?: number;
  cell?: string;
  color?: 'blue' | 'green';
  version?: string;
}

/** What rollouts need from a process supervisor. */
export interface CellProcesses {
  /** Starts (or replaces) the `color` instance of `cell` running `version`; resolves once it is ready. */
  startCell(cell: string, color: 'blue' | 'green', version: string, defect?: unknown): Promise<ChildStatus>;
  /** Stops and forgets the `color` instance of `cell` (no-op when absent). */
  stopCell(cell: string, color: 'blue' | 'green'): Promise<void>;
  /** Every child. */
  children(): Promise<ChildStatus[]>;
}

/** What the cell lifecycle (`cellctl cells add|retire`) needs from a process supervisor. */
export interface CellLifecycleProcesses {
  /** Starts a newly added cell (its record already in Consul) running `version`; resolves once it is ready. */
  addCell(cell: string, version: string): Promise<ChildStatus>;
  /** Stops every instance of `cell` and removes its data directory (no-op when the supervisor runs no such cell). */
  removeCell(cell: string): Promise<void>;
}

/** What a delivery scaling did (`PUT /cells/:cell/delivery`). */
export interface DeliveryScaled {
  cell: string;
  from: number;
  to: number;
  started: string[];
  stopped: string[];
  instances: ChildStatus[];
}

/** What `cellctl cells scale` needs from a process supervisor. */
export interface DeliveryProcesses {
  /** Every child. */
  children(): Promise<ChildStatus[]>;
  /** Brings `cell`'s delivery service to `n` instances; resolves once the new ones are ready and the old ones gone. */
  scaleDelivery(cell: string, n: number): Promise<DeliveryScaled>;
}

/** What a delivery rollout needs from a process supervisor: one delivery instance at a time. */
export interface DeliveryInstances {
  /** Every child. */
  children(): Promise<ChildStatus[]>;
  /** Starts (or replaces) `<cell>.delivery-<n>` running `version`; resolves once it is ready. */
  startDelivery(cell: string, n: number, version: string, defect?: unknown): Promise<ChildStatus>;
  /** Stops and forgets `<cell>.delivery-<n>` (no-op when absent). */
  stopDelivery(cell: string, n: number): Promise<void>;
}

/**
 * How long the control plane waits for the supervisor to start an added cell (its host's agent,
 * then the cell, each bounded at 60 s by the supervisor, whose answer names the step that failed);
 * past it the add fails as `503 cell_start_failed` naming the timeout (control-plane/admin/lifecycle.ts).
 */
export const ADD_CELL_TIMEOUT_MS = 90_000;

/** HTTP client of the supervisor's control API. */
export class SupervisorClient implements CellProcesses, CellLifecycleProcesses, DeliveryProcesses, DeliveryInstances {
  constructor(
    private readonly url: string,
    /** The supervisor's own token (`supervisor`), never an operator's. */
    private readonly token: string,
    /** How to reach it: an `https:` channel (`cellctl up --hosts --tls`) needs a client that trusts the topology's CA. */
    private readonly get: (url: string, init: RequestInit) => Promise<Response> = (url, init) => fetch(url, init),
  ) {}

  /**
   * `refusals`: an answer in the contract's shape with a code the caller may pass on (a 4xx but
   * 401, or a 5xx but `500 internal`, e.g. `503 cell_start_failed`) is thrown as the same HttpError.
   */
  private async call(
    method: string,
    path: string,
    body?: unknown,
    timeoutMs = 60_000,
    allow404 = false,
    refusals = false,
  ): Promise<unknown> {
    const res = await this.get(`${this.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (allow404 && res.status === 404) return undefined;
    const refusal = refusals && res.status >= 400 && res.status !== 401 ? refusalOf(text) : undefined;
    if (refusal) throw refusal;
    if (!res.ok) throw new Error(`supervisor ${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    return text ? (JSON.parse(text) as unknown) : undefined;
  }

  async startCell(cell: string, color: 'blue' | 'green', version: string, defect?: unknown): Promise<ChildStatus> {
    return (await this.call('PUT', `/cells/${encodeURIComponent(cell)}/${color}`, {
      version,
      ...(defect ? { defect } : {}),
    })) as ChildStatus;
  }

  async stopCell(cell: string, color: 'blue' | 'green'): Promise<void> {
    await this.call('DELETE', `/cells/${encodeURIComponent(cell)}/${color}`);
  }

  async addCell(cell: string, version: string): Promise<ChildStatus> {
    return (await this.call('POST', `/cells/${encodeURIComponent(cell)}`, { version }, ADD_CELL_TIMEOUT_MS, false, true)) as ChildStatus;
  }

  async removeCell(cell: string): Promise<void> {
    await this.call('DELETE', `/cells/${encodeURIComponent(cell)}`, undefined, 60_000, true, true);
  }

  async scaleDelivery(cell: string, n: number): Promise<DeliveryScaled> {
    return (await this.call('PUT', `/cells/${encodeURIComponent(cell)}/delivery`, { instances: n }, 90_000, false, true)) as DeliveryScaled;
  }

  async startDelivery(cell: string, n: number, version: string, defect?: unknown): Promise<ChildStatus> {
    const body = { version, ...(defect ? { defect } : {}) };
    return (await this.call('PUT', `/cells/${encodeURIComponent(cell)}/delivery/${n}`, body, 90_000, false, true)) as ChildStatus;
  }

  async stopDelivery(cell: string, n: number): Promise<void> {
    await this.call('DELETE', `/cells/${encodeURIComponent(cell)}/delivery/${n}`, undefined, 60_000, false, true);
  }

  async children(): Promise<ChildStatus[]> {
    return (await this.call('GET', '/children')) as ChildStatus[];
  }
}

/** A supervisor's refusal (an answer in the contract's shape, but `internal`) as the same HttpError; undefined otherwise. */
function refusalOf(text: string): HttpError | undefined {
  try {
    const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    if (e?.code && e.code !== 'internal' && e.code in ERROR_CODES && e.message)
      return new HttpError(e.code as ErrorCode, `supervisor: ${e.message}`);
  } catch {
    /* not JSON: the generic failure */
  }
  return undefined;
}
