/**
 * The data path's caller check (docs/contracts.md §Cell API): with mutual TLS on, `/v1/*` answers
 * only a router or an Envoy, known by the verified client certificate's identity URI
 * (`spiffe://cellsim/router`, `spiffe://cellsim/envoy`); any other caller gets `403 forbidden`
 * and reaches no handler. Health, metrics and the token-protected admin API stay open to any
 * TLS client.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { MiddlewareHandler } from 'hono';
import { errorBody } from '../../shared/errors.js';
import { peerRole } from '../../shared/pki/identity.js';
import type { Role } from '../../shared/pki/names.js';

/** The roles that may call a cell's `/v1/*`. */
export const DATA_PLANE_ROLES: ReadonlySet<Role> = new Set<Role>(['router', 'envoy']);

/** `/v1/*` for data planes only when `mtls` is on; a no-op otherwise. */
export function dataPlanesOnly(mtls: boolean): MiddlewareHandler {
  return async (c, next) => {
    if (!mtls) return next();
    const socket = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket as TLSSocket | undefined;
    const role = socket && typeof socket.getPeerCertificate === 'function' ? peerRole(socket) : undefined;
    if (role && DATA_PLANE_ROLES.has(role)) return next();
    return c.json(errorBody('forbidden', 'only a router or an Envoy with a certificate of the cellsim CA may call /v1 (mutual TLS)'), 403);
  };
}
