/**
 * Who is on the other end of a TLS connection (docs/security.md §TLS): the identity URI of a
 * peer's certificate (`spiffe://cellsim/<role>[/<id>]`), the check a client makes of a cell's
 * server certificate, and the loading of a component's three files (certificate, key, CA).
 */
import { readFileSync } from 'node:fs';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { CellsimError } from '../errors.js';
import { identityUri, TRUST_DOMAIN, type Role, type TlsFiles } from './names.js';

/** The PEM texts of a component's TLS files. */
export interface TlsMaterial {
  ca: string;
  cert: string;
  key: string;
}

/** A TLS file that cannot be read (code `invalid_tls_config`): the process refuses to start. */
export class TlsConfigError extends CellsimError {
  constructor(message: string) {
    super('invalid_tls_config', message);
    this.name = 'TlsConfigError';
  }
}

/** Reads the three files; throws {@link TlsConfigError} naming the file that is missing. */
export function readTlsFiles(files: TlsFiles): TlsMaterial {
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new TlsConfigError(`cannot read TLS ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  return { ca: read('CA certificate', files.ca), cert: read('certificate', files.cert), key: read('key', files.key) };
}

/**
 * The certificates of a PEM text, each as its own PEM block, in file order: a CA file holds one,
 * or two in the middle of a CA rotation (docs/tls.md §Rotating the CA). Node's X509Certificate
 * reads only the first block of a text; its `ca` option of a TLS context takes them all.
 */
export function pemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)?.map((b) => `${b}\n`) ?? [];
}

/**
 * The TLS files of a command's `--tls-cert`, `--tls-key` and `--tls-ca`: all three or none
 * (undefined); throws {@link TlsConfigError} when only some are given.
 */
export function tlsFilesOf(f: { tlsCert?: string; tlsKey?: string; tlsCa?: string }): TlsFiles | undefined {
  const given = [f.tlsCert, f.tlsKey, f.tlsCa].filter((v) => v !== undefined).length;
  if (given === 0) return undefined;
  if (given !== 3) throw new TlsConfigError('--tls-cert, --tls-key and --tls-ca go together: give all three or none');
  return { cert: f.tlsCert!, key: f.tlsKey!, ca: f.tlsCa! };
}

/** The identity URIs (`URI:` entries of the subject alternative name) of a certificate. */
export function identityUris(cert: Pick<PeerCertificate, 'subjectaltname'> | undefined): string[] {
  const san = cert?.subjectaltname ?? '';
  return san
    .split(', ')
    .filter((e) => e.startsWith('URI:'))
    .map((e) => e.slice(4));
}

/** The role a URI names in cellsim's trust domain (`spiffe://cellsim/router` → `router`). */
export function roleOfUri(uri: string): Role | undefined {
  if (!uri.startsWith(`${TRUST_DOMAIN}/`)) return undefined;
  const role = uri.slice(TRUST_DOMAIN.length + 1).split('/')[0];
  return role === 'router' || role === 'envoy' || role === 'control-plane' || role === 'consul' || role === 'cell' || role === 'supervisor'
    ? role
    : undefined;
}

/**
 * The role of the peer of a TLS server socket: only when its client certificate was verified
 * against the CA (`socket.authorized`), undefined otherwise (no certificate, another CA).
 */
export function peerRole(socket: TLSSocket): Role | undefined {
  if (!socket.authorized) return undefined;
  for (const uri of identityUris(socket.getPeerCertificate())) {
    const role = roleOfUri(uri);
    if (role) return role;
  }
  return undefined;
}

/**
 * A client's check of the server certificate of cell `cell`, in place of the host-name check
 * (cells are reached by address; their identity is the URI): an Error unless the certificate
 * names that very cell. A cell's Consul token can register an instance under any cell's ID
 * (Consul's ACLs go by service name, and every cell is `cellsim-cell`); this check is what keeps
 * such an instance, which holds only its own cell's certificate, from another cell's traffic.
 */
export function cellServerCheck(cell: string): (host: string, cert: PeerCertificate) => Error | undefined {
  const expected = identityUri('cell', cell);
  return (_host, cert) =>
    identityUris(cert).includes(expected) ? undefined : new Error(`the server certificate does not name ${expected}`);
}
