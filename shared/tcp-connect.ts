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

/** Opens a TCP connection to `host:port` and closes it; not accepted after `timeoutMs` is a `timeout`. */
export function tcpConnect(host: string, port: number, timeoutMs: number): Promise<TcpConnectResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (r: TcpConnectResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ accepted: false, detail: 'timeout' }), timeoutMs);
    socket.once('connect', () => done({ accepted: true, detail: 'accepted' }));
    socket.once('error', (err: NodeJS.ErrnoException) => done({ accepted: false, detail: err.code ?? 'error' }));
  });
}
