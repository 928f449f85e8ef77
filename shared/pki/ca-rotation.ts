/**
 * Rotating the CA of a `<data>/tls/` without restarts (docs/tls.md §Rotating the CA), in three
 * steps with a wait between them that the caller makes: {@link trustBoth} (`ca.crt` holds the new
 * CA and the old, `ca.key` becomes the new CA's key), {@link switchLeaves} (every leaf issued
 * again by the new CA) and {@link dropPrevious} (`ca.crt` holds the new CA only). Every write is
 * an atomic rename, and at every point `ca.key` is the key of one certificate of `ca.crt`, so
 * `ensureCertificates` (shared/pki/store.ts) works on a directory left in the middle, and
 * {@link caStage} tells where a stopped rotation stands.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { certFacts, createCa } from './ca.js';
import { TlsConfigError } from './identity.js';
import { tlsFiles } from './names.js';
import { leavesOnDisk, reissueLeaves, signingCa, type ReissuedLeaf } from './store.js';

/** The new CA's key while `ca.crt` already trusts the new CA and `ca.key` is still the old one's. */
export const NEXT_KEY = 'ca-next.key';

/** Where the CA of a directory stands. */
export type CaStage =
  /** One CA: no rotation under way. */
  | { stage: 'one'; ca: string }
  /**
   * Two CAs, `ca.crt` = the new then the old: a rotation trusts both. `keyMoved` false when
   * `ca.key` is still the old CA's (the new one's in {@link NEXT_KEY}).
   */
  | { stage: 'both'; next: string; previous: string; keyMoved: boolean };

const caFiles = (dir: string) => ({ cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key'), next: join(dir, NEXT_KEY) });

const nl = (pem: string) => (pem.endsWith('\n') ? pem : `${pem}\n`);

const keyOf = (pem: string, key: string) => new X509Certificate(pem).checkPrivateKey(createPrivateKey(key));

/**
 * Reads `<dir>/ca.crt` and `ca.key`: one CA, or two with the key of one of them (and the new
 * CA's key in {@link NEXT_KEY} when `ca.key` is still the old one's). Throws
 * {@link TlsConfigError} when they are missing or in no state a rotation leaves.
 */
export function caStage(dir: string): CaStage {
  const f = caFiles(dir);
  const found = signingCa(dir);
  if (!found) throw new TlsConfigError(`no CA under ${dir} (ca.crt and ca.key)`);
  const { bundle, ca } = found;
  if (bundle.length === 1) return { stage: 'one', ca: ca.cert };
  if (bundle.length !== 2) throw new TlsConfigError(`${f.cert} holds ${bundle.length} certificates: one CA, or two in a rotation`);
  const [next, previous] = bundle as [string, string];
  if (ca.cert === next) return { stage: 'both', next, previous, keyMoved: true };
  const nextKey = existsSync(f.next) ? readFileSync(f.next, 'utf8') : undefined;
  if (!nextKey || !keyOf(next, nextKey))
    throw new TlsConfigError(
      `${f.cert} trusts a new CA whose key is in neither ${f.key} nor ${f.next}: make ${f.cert} its second certificate alone, then rotate again`,
    );
  return { stage: 'both', next, previous, keyMoved: false };
}

/** Moves the new CA's key in as `ca.key` (a rename), when a rotation stopped before it. */
export function moveNextKey(dir: string): void {
  const f = caFiles(dir);
  if (existsSync(f.next)) renameSync(f.next, f.key);
}

/**
 * Step 1: a new CA (named with `now`, so the two CAs' subjects differ); its key is written to
 * {@link NEXT_KEY}, then `ca.crt` becomes the new CA followed by the old, then the key is renamed
 * to `ca.key`. Needs a directory with one CA. Returns both CAs' certificates.
 */
export async function trustBoth(dir: string, now = new Date()): Promise<{ previous: string; next: string }> {
  const stage = caStage(dir);
  if (stage.stage !== 'one') throw new TlsConfigError(`${dir} is already in a CA rotation`);
  const f = caFiles(dir);
  const ca = await createCa({ name: `cellsim local CA ${now.toISOString()}`, now });
  await writeFileAtomic(f.next, [ca.key], { mode: 0o600 });
  await writeFileAtomic(f.cert, [nl(ca.cert), nl(stage.ca)], { mode: 0o644 });
  moveNextKey(dir);
  return { previous: nl(stage.ca), next: nl(ca.cert) };
}

/**
 * Step 2: every leaf of the directory (`leavesOnDisk`, same names) that the new CA did not sign
 * is issued again by it (`reissueLeaves`: the signing CA is the one `ca.key` belongs to, now the
 * new one), key first then certificate. Needs `ca.crt` to trust both CAs with the new key moved in.
 */
export async function switchLeaves(dir: string, now = new Date()): Promise<ReissuedLeaf[]> {
  const stage = caStage(dir);
  if (stage.stage !== 'both' || !stage.keyMoved) throw new TlsConfigError(`${dir} does not trust a new CA yet`);
  const leaves = leavesOnDisk(dir);
  const names: string[] = [];
  for (const spec of leaves)
    if (!(await certFacts(readFileSync(tlsFiles(dir, spec.name).cert, 'utf8')).signedBy(stage.next))) names.push(spec.name);
  return reissueLeaves(dir, leaves, names, now);
}

/**
 * Step 3: `ca.crt` becomes the new CA alone. Refused while a leaf of the directory is not signed
 * by it (its holder would be cut off).
 */
export async function dropPrevious(dir: string): Promise<string> {
  const stage = caStage(dir);
  if (stage.stage !== 'both' || !stage.keyMoved) throw new TlsConfigError(`${dir} does not trust a new CA yet`);
  for (const spec of leavesOnDisk(dir))
    if (!(await certFacts(readFileSync(tlsFiles(dir, spec.name).cert, 'utf8')).signedBy(stage.next)))
      throw new TlsConfigError(`${spec.name}.crt is not signed by the new CA yet`);
  await writeFileAtomic(caFiles(dir).cert, [nl(stage.next)], { mode: 0o644 });
  return stage.next;
}
