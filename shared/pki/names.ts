/**
 * The names of cellsim's TLS identities and files (docs/security.md §TLS), with no dependency:
 * what a process that only loads certificates (the router, a cell) needs, without the CA code.
 */
import { join } from 'node:path';

/** The SPIFFE-style trust domain of every identity URI. */
export const TRUST_DOMAIN = 'spiffe://cellsim';

/** The roles a certificate names; a cell's URI also names its id (`spiffe://cellsim/cell/cell-0`). */
export type Role = 'router' | 'envoy' | 'control-plane' | 'consul' | 'cell' | 'supervisor';

/** The identity URI of a role (and, for a cell, its id). */
export function identityUri(role: Role, id?: string): string {
  return id === undefined ? `${TRUST_DOMAIN}/${role}` : `${TRUST_DOMAIN}/${role}/${id}`;
}

/** Paths of one component's certificate and key, and of the CA certificate that verifies peers. */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** `<data>/tls`. */
export function tlsDir(dataDir: string): string {
  return join(dataDir, 'tls');
}

/** The files of component `name` under `dir`. */
export function tlsFiles(dir: string, name: string): TlsFiles {
  return { ca: join(dir, 'ca.crt'), cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}
