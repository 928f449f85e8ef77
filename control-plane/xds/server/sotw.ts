/**
 * State-of-the-world ADS on one stream: the shared flow of `stream.ts` (nonces, ACK/NACK,
 * parking, one response in flight per type) with what SotW adds. Per type: the subscribed names
 * (none = wildcard) and the version the client holds; every response carries the full state of
 * the subscribed names, and a version the client already holds is not sent again. A request
 * may repeat the latest nonce (Envoy does on a later subscription change); a request whose
 * nonce is not the latest is stale and ignored whole. A NACK keeps the client's version and
 * parks the rejected one until the snapshot changes (unlike go-control-plane issues #46 and
 * #962). Protocol: https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol
 */
import type * as grpc from '@grpc/grpc-js';
import { WILDCARD_TYPES } from '../resources/type-urls.js';
import type { StreamContext } from './context.js';
import type { DiscoveryRequest, DiscoveryResponse } from './messages.js';
import { newFlow, serveStream, type TypeFlow, type Variant } from './stream.js';

interface TypeState extends TypeFlow<undefined> {
  /** undefined = wildcard (every resource of the type). */
  names: Set<string> | undefined;
  /** The version the client holds, or is being sent. */
  holds: string | undefined;
}

/** The SotW variant of the shared stream flow; `identifier` is the control plane's. */
export function sotwVariant(identifier: string): Variant<DiscoveryRequest, DiscoveryResponse, undefined, TypeState> {
  return {
    mode: 'sotw',
    nonceOutlivesAnswer: true,
    staleDropsRequest: true,
    // A reconnecting client names the version it holds; equal content is not resent.
    open: (_type, req) => ({ ...newFlow<undefined>(!req.version_info), names: undefined, holds: req.version_info || undefined }),
    accept: (_st, _sent, req) => req.version_info ?? '',
    reject: (st, _sent, req) => {
      const rejected = st.holds;
      st.holds = req.version_info || undefined;
      return { version: rejected, kept: req.version_info };
    },
    subscribe: (type, st, req) => {
      const requested = req.resource_names ?? [];
      const wildcard = requested.length === 0 || (WILDCARD_TYPES.has(type) && requested.includes('*'));
      const names = wildcard ? undefined : new Set(requested);
      if (!sameNames(st.names, names)) {
        st.names = names;
        st.force = true;
      }
    },
    reply: (type, st, snap) => {
      const ts = snap.type(type);
      if (!st.force && ts.version === st.holds) return { kind: 'skip' };
      const resources = st.names === undefined ? [...ts.items.values()] : [...st.names].flatMap((n) => ts.items.get(n) ?? []);
      st.holds = ts.version;
      let bytes = 0;
      for (const r of resources) bytes += r.any.value.length;
      return {
        kind: 'send',
        version: ts.version,
        response: {
          version_info: ts.version,
          resources: resources.map((r) => r.any),
          type_url: type,
          nonce: '',
          control_plane: { identifier },
        },
        extra: undefined,
        bytes,
        detail: { resources: resources.length },
      };
    },
  };
}

/** Serves one SotW ADS stream until it ends. */
export function serveSotw(call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>, ctx: StreamContext): void {
  serveStream(call, ctx, sotwVariant(ctx.identifier));
}

function sameNames(a: Set<string> | undefined, b: Set<string> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.size !== b.size) return false;
  for (const n of a) if (!b.has(n)) return false;
  return true;
}
