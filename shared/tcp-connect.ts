/**
 * One TCP connect, closed at once: whether a listener accepts within a bound. The one check behind
 * the router's probe of a cell cut off as unreachable (router/proxy/cut-off.ts), the supervisor's
 * liveness of a Kafka broker (topology/kafka.ts) and the drills' probes of a broker's listener
 * (loadtest/env/tcp-probe.ts).
 */
import { connect } from 'node:net';

/** What one connect found: accepted, or why not (`timeout`, or the socket error's code). */
export interface TcpConnectResult {
  accepted: boolean;
  detail: string;
}

/**
 * Opens a TCP connection to `host:port` and closes it; not accepted after `timeoutMs` is a `timeout`.
 * The timeout's verdict waits one turn of the event loop (setImmediate runs after the I/O poll):
 * when this process's own loop was blocked or starved past `timeoutMs` (a loaded machine), Node
 * runs the expired timer before it polls the connect that completed meanwhile, and a listener
 * that accepted at once would be called unreachable (docs/tls.md §A busy cell at the edge).
 */
export function tcpConnect(host: string, port: number, timeoutMs: number): Promise<TcpConnectResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let settled = false;
    const done = (r: TcpConnectResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => setImmediate(() => done({ accepted: false, detail: 'timeout' })), timeoutMs);
    socket.once('connect', () => done({ accepted: true, detail: 'accepted' }));
    socket.once('error', (err: NodeJS.ErrnoException) => done({ accepted: false, detail: err.code ?? 'error' }));
  });
}
