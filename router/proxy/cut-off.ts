/**
 * What the proxy does about a cell cut off as unreachable (no TCP connection to it opens: a cut
 * or black-holed host, router/isolation/liveness.ts):
 * - the requests waiting on it are ended at the cut (AttemptSignal.cutOff; the proxy answers
 *   them `504 upstream_timeout`) instead of at the headers timeout: no answer will come;
 * - its half-open probe is a TCP connect ({@link anyConnects}), not a client request that would
 *   wait on the cut host (router/isolation/breaker.ts `connectDue`).
 */
import { EventEmitter } from 'node:events';
import type { Endpoint } from '../../shared/routing-table.js';
import { tcpConnect } from '../../shared/tcp-connect.js';

/**
 * The abort signal of one upstream attempt: the client went away, or the cell was cut off while
 * the attempt waited for headers. An EventEmitter with `aborted`, which undici takes as a signal:
 * both end in its RequestAbortedError, and `cut` tells them apart.
 */
export class AttemptSignal extends EventEmitter {
  aborted = false;
  /** Aborted because the cell was cut off as unreachable. */
  cut = false;
  private readonly unlink: () => void;

  constructor(client: AbortSignal | EventEmitter | undefined) {
    super();
    const onClient = () => this.abort();
    if (client === undefined) {
      this.unlink = () => undefined;
    } else if (client instanceof EventEmitter) {
      client.once('abort', onClient);
      this.unlink = () => client.removeListener('abort', onClient);
    } else {
      if (client.aborted) this.aborted = true;
      client.addEventListener('abort', onClient, { once: true });
      this.unlink = () => client.removeEventListener('abort', onClient);
    }
  }

  /** The cell was cut off as unreachable: end the attempt now. */
  readonly cutOff = (): void => {
    if (this.aborted) return;
    this.cut = true;
    this.abort();
  };

  /** Stops listening to the client's signal (the attempt ended). */
  dispose(): void {
    this.unlink();
  }

  private abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit('abort');
  }
}

/** Whether a new TCP connection to `ep` opens within `timeoutMs` (closed at once either way). */
export async function canConnect(ep: Endpoint, timeoutMs: number): Promise<boolean> {
  return (await tcpConnect(ep.address, ep.port, timeoutMs)).accepted;
}

/** Whether a TCP connection to any of `endpoints` opens within `timeoutMs`. */
export async function anyConnects(endpoints: readonly Endpoint[], timeoutMs: number): Promise<boolean> {
  return (await Promise.all(endpoints.map((ep) => canConnect(ep, timeoutMs)))).some(Boolean);
}
