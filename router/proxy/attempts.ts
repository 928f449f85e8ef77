/**
 * What undici knows about a failed upstream attempt, read from its diagnostics channels: was
 * the request written to a socket at all, was that socket a reused keep-alive connection, and
 * did any byte of a response arrive on it. The proxy retries on that evidence alone: a
 * request that died on a reused connection before any response byte was never processed by
 * the upstream (it closed an idle socket — its keep-alive timer, or a busy event loop that
 * ran that timer before reading the request; Node then resets the connection).
 */
import { subscribe } from 'node:diagnostics_channel';

/** undici's evidence about one failed attempt. */
export interface AttemptEvidence {
  /** Request headers were written to a socket (false: never sent — safe to send again). */
  sent: boolean;
  /** The socket had carried an earlier request (a reused keep-alive connection). */
  reused: boolean;
  /** Bytes arrived on the socket after this request was written (a response had begun). */
  responseBytes: boolean;
}

interface SentOn {
  socket: { bytesRead: number };
  reused: boolean;
  bytesRead: number;
}

const usedSockets = new WeakSet<object>();
const sentOn = new WeakMap<object, SentOn>();
const evidence = new WeakMap<object, AttemptEvidence>();
let installed = false;

/** Subscribes to undici's channels (once per process; cheap: two WeakMap writes per request). */
export function trackAttempts(): void {
  if (installed) return;
  installed = true;
  subscribe('undici:client:sendHeaders', (m) => {
    const { request, socket } = m as { request: object; socket: { bytesRead: number } };
    sentOn.set(request, { socket, reused: usedSockets.has(socket), bytesRead: socket.bytesRead });
    usedSockets.add(socket);
  });
  subscribe('undici:request:error', (m) => {
    const { request, error } = m as { request: object; error: unknown };
    if (typeof error !== 'object' || error === null) return;
    const s = sentOn.get(request);
    const e: AttemptEvidence = s
      ? { sent: true, reused: s.reused, responseBytes: s.socket.bytesRead !== s.bytesRead }
      : { sent: false, reused: false, responseBytes: false };
    // One error object can fail several requests (a destroyed pool): keep the weakest claim.
    const prev = evidence.get(error);
    evidence.set(
      error,
      prev ? { sent: prev.sent || e.sent, reused: prev.reused && e.reused, responseBytes: prev.responseBytes || e.responseBytes } : e,
    );
  });
}

/** undici's evidence about the attempt that failed with `err`; undefined when undici reported none. */
export function evidenceOf(err: unknown): AttemptEvidence | undefined {
  return typeof err === 'object' && err !== null ? evidence.get(err) : undefined;
}

/** The attempt was written on a reused connection that closed before any response byte: never processed. */
export function diedOnStaleConnection(e: AttemptEvidence | undefined): boolean {
  return e !== undefined && e.sent && e.reused && !e.responseBytes;
}
