/**
 * A client of a cell's fault API (docs/contracts.md §Cell admin API: `/admin/faults`, bearer token),
 * over `get` (an HTTPS cell: a fetch trusting the topology's CA, shared/pki/client.ts).
 */
import type { CellFault } from './types.js';

/** The fetch a call goes through (default: the global one). */
export type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

async function call(url: string, token: string, method: string, body?: unknown, get: Fetch = fetch): Promise<unknown> {
  const res = await get(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 300)}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}

/** Injects `fault` into the cell at `cellUrl`; resolves with the fault the cell recorded. */
export function injectFault(cellUrl: string, token: string, fault: CellFault, get?: Fetch): Promise<unknown> {
  return call(`${cellUrl}/admin/faults`, token, 'POST', fault, get);
}

/** Clears every fault of the cell at `cellUrl`. */
export function clearFaults(cellUrl: string, token: string, get?: Fetch): Promise<unknown> {
  return call(`${cellUrl}/admin/faults`, token, 'DELETE', undefined, get);
}
