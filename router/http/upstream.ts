/** The request body to send on, and the cell's answer back: into node's response, or as a web Response. */
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { toHeaders, type HeaderRecord } from '../proxy/headers.js';
import type { Upstream } from '../proxy/index.js';

/** True when the request carries a body: not GET or HEAD, and chunked or a positive content-length. */
export function hasBody(method: string, headers: HeaderRecord): boolean {
  if (method === 'GET' || method === 'HEAD') return false;
  if (headers['transfer-encoding'] !== undefined) return true;
  const len = Number(headers['content-length'] ?? '0');
  return Number.isFinite(len) && len > 0;
}

/** One header value; repeated ones joined with ', '. */
export function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Streams the cell's answer straight into node's response (the hot path under @hono/node-server). */
export function writeNode(up: Upstream, outgoing: ServerResponse): Response {
  outgoing.writeHead(up.status, up.headers);
  const body = up.body;
  if (!body) {
    outgoing.end();
    return RESPONSE_ALREADY_SENT;
  }
  body.pipe(outgoing);
  body.once('error', () => outgoing.destroy());
  outgoing.once('close', () => {
    if (!outgoing.writableFinished) body.destroy();
  });
  return RESPONSE_ALREADY_SENT;
}

/** The cell's answer as a web Response (the app.request() path). */
export function toResponse(up: Upstream): Response {
  return new Response(up.body ? (Readable.toWeb(up.body) as ReadableStream<Uint8Array>) : null, {
    status: up.status,
    headers: toHeaders(up.headers),
  });
}
