/**
 * The V8 options a router process is launched with, as NODE_OPTIONS (by `cellctl up`, the
 * Kubernetes manifests and `npm run bench:router`; by hand: `NODE_OPTIONS=--max-semi-space-size=8
 * cellctl router ...`). V8 sizes a heap when its isolate starts, so the router cannot set them
 * itself once running.
 *
 * `--max-semi-space-size=8`: under sustained load V8 grows the request thread's young generation to
 * two 16 MB semi-spaces (32 MB of RSS, kept afterwards); with 8 MB ones it is 16 MB. Measured side by
 * side in `npm run bench:router` (RSS and throughput at 100,000 markets, with and without it).
 */
export const ROUTER_NODE_OPTIONS = '--max-semi-space-size=8';

/** `existing` NODE_OPTIONS with {@link ROUTER_NODE_OPTIONS} added, unless it already sizes the semi-space. */
export function routerNodeOptions(existing: string = process.env.NODE_OPTIONS ?? ''): string {
  if (/--max-semi-space-size\b/.test(existing)) return existing;
  return existing.trim() === '' ? ROUTER_NODE_OPTIONS : `${existing.trim()} ${ROUTER_NODE_OPTIONS}`;
}
