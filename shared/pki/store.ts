/**
 * The certificates of a local topology on disk (docs/contracts.md §Data directory): `<data>/tls/`
 * (mode 0700) holds `ca.crt`, `ca.key` and one `<name>.crt` + `<name>.key` per component; every
 * key is mode 0600. {@link ensureCertificates} makes what is missing and renews what is near its
 * end or signed by another CA; {@link rotateCertificates} issues new leaves on demand. A pair is
 * replaced key first, then certificate, each by an atomic rename, so a reader that loads on a
 * certificate change finds the key of that certificate.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { certFacts, createCa, issueLeaf, type CertFacts, type LeafSpec, type PemPair } from './ca.js';
import { pemCertificates, TlsConfigError } from './identity.js';
import { identityUri, tlsFiles, TRUST_DOMAIN, type TlsFiles } from './names.js';

export { identityUri, tlsDir, tlsFiles, TRUST_DOMAIN, type Role, type TlsFiles } from './names.js';

/** Addresses a leaf serves besides 127.0.0.1, by leaf name (e.g. the hosts of `cellctl up --hosts`). */
export type LeafAddresses = Readonly<Record<string, readonly string[]>>;

/**
 * The components of a topology with `cells` cells: router, envoy, control-plane, consul, supervisor, cell-0 …,
 * each naming localhost and 127.0.0.1, and the IP addresses `addresses` gives for its name.
 */
export function topologyLeaves(cellIds: string[], addresses: LeafAddresses = {}): LeafSpec[] {
  const ips = (name: string) => ['127.0.0.1', ...(addresses[name] ?? []).filter((ip) => ip !== '127.0.0.1')];
  const leaf = (name: string, uri: string, dns = ['localhost']): LeafSpec => ({ name, uri, dns, ips: ips(name) });
  return [
    leaf('router', identityUri('router')),
    leaf('envoy', identityUri('envoy')),
    leaf('control-plane', identityUri('control-plane')),
    // Consul's own convention: a server's certificate names server.<datacenter>.<domain>.
    leaf('consul', identityUri('consul'), ['localhost', 'server.dc1.consul']),
    // The supervisor's control channel (served in HTTPS under `cellctl up --hosts --tls`).
    leaf('supervisor', identityUri('supervisor')),
    ...cellIds.map((id) => leaf(id, identityUri('cell', id))),
  ];
}

/** True when `facts` name every DNS and IP name `spec` asks for (defaults as {@link issueLeaf}'s). */
function namesCovered(facts: CertFacts, spec: LeafSpec): boolean {
  return (
    (spec.dns ?? ['localhost']).every((d) => facts.dns.includes(d)) && (spec.ips ?? ['127.0.0.1']).every((ip) => facts.ips.includes(ip))
  );
}

/** Renew a leaf (or the CA) this close to its end. */
export const RENEW_WITHIN_MS = 30 * 86_400_000;

/** The certificate and key at `files`, undefined when either is missing. */
function readPair(files: { cert: string; key: string }): PemPair | undefined {
  if (!existsSync(files.cert) || !existsSync(files.key)) return undefined;
  return { cert: readFileSync(files.cert, 'utf8'), key: readFileSync(files.key, 'utf8') };
}

/** Writes `pair`: the key (0600), then the certificate, each by an atomic rename. */
async function writePair(files: { cert: string; key: string }, pair: PemPair): Promise<void> {
  await writeFileAtomic(files.key, [pair.key], { mode: 0o600 });
  chmodSync(files.key, 0o600);
  await writeFileAtomic(files.cert, [pair.cert], { mode: 0o644 });
}

/**
 * The signing CA of `ca.crt` and `ca.key`: the certificate of the file that `ca.key` belongs to.
 * The file holds one CA, or two in the middle of a CA rotation (docs/tls.md §Rotating the CA), the
 * key then the new CA's, or still the old one's if the rotation stopped before its key was moved
 * in. Undefined when either file is missing; throws when the key belongs to none of them.
 */
export function signingCa(dir: string): { ca: PemPair; bundle: string[] } | undefined {
  const files = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  const found = readPair(files);
  if (!found) return undefined;
  const bundle = pemCertificates(found.cert);
  const key = createPrivateKey(found.key);
  const cert = bundle.find((pem) => new X509Certificate(pem).checkPrivateKey(key));
  if (!cert) throw new TlsConfigError(`${files.key} is the key of no certificate of ${files.cert}`);
  return { ca: { cert, key: found.key }, bundle };
}

async function caOf(dir: string, now: Date): Promise<{ ca: PemPair; created: boolean }> {
  const found = signingCa(dir);
  if (found && certFacts(found.ca.cert).notAfter.getTime() - now.getTime() > RENEW_WITHIN_MS) {
    chmodSync(join(dir, 'ca.key'), 0o600);
    return { ca: found.ca, created: false };
  }
  const files = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  const ca = await createCa({ now });
  await writePair(files, ca);
  return { ca, created: true };
}

/** What {@link ensureCertificates} found and did. */
export interface CertificateSet {
  dir: string;
  /** The files of each component, by name. */
  files: Record<string, TlsFiles>;
  /** Names issued in this call (`ca` when the CA itself was made). */
  issued: string[];
}

/**
 * Makes `<dir>` (0700), its CA when missing or near its end, and the leaf of every spec that is
 * missing, near its end, not signed by the CA (a new CA reissues every leaf), or missing a name the
 * spec asks for (e.g. the addresses of another run's hosts). Keeps the rest.
 */
export async function ensureCertificates(dir: string, leaves: LeafSpec[], now = new Date()): Promise<CertificateSet> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const { ca, created } = await caOf(dir, now);
  const issued = created ? ['ca'] : [];
  const files: Record<string, TlsFiles> = {};
  for (const spec of leaves) {
    const f = tlsFiles(dir, spec.name);
    files[spec.name] = f;
    const found = readPair(f);
    if (found) {
      const facts = certFacts(found.cert);
      const fresh = facts.notAfter.getTime() - now.getTime() > RENEW_WITHIN_MS;
      if (fresh && facts.uris.includes(spec.uri) && namesCovered(facts, spec) && (await facts.signedBy(ca.cert))) {
        chmodSync(f.key, 0o600);
        continue;
      }
    }
    await writePair(f, await issueLeaf(ca, spec, now));
    issued.push(spec.name);
  }
  return { dir, files, issued };
}

/** Issues new leaves for `names` (each must be one of `leaves`), keeping the CA. */
export async function rotateCertificates(dir: string, leaves: LeafSpec[], names: string[], now = new Date()): Promise<string[]> {
  const { ca } = await caOf(dir, now);
  const out: string[] = [];
  for (const name of names) {
    const spec = leaves.find((l) => l.name === name);
    if (!spec) throw new Error(`no certificate named ${name} (known: ${leaves.map((l) => l.name).join(', ')})`);
    await writePair(tlsFiles(dir, name), await issueLeaf(ca, spec, now));
    out.push(name);
  }
  return out;
}

/** A leaf issued again: its name, the serials before and after, and the new one's end. */
export interface ReissuedLeaf {
  name: string;
  previousSerial: string;
  serial: string;
  notAfter: string;
}

/** {@link rotateCertificates}, telling for each leaf its serial before and after. */
export async function reissueLeaves(dir: string, leaves: LeafSpec[], names: string[], now = new Date()): Promise<ReissuedLeaf[]> {
  const facts = (name: string) => certFacts(readFileSync(tlsFiles(dir, name).cert, 'utf8'));
  const previous = new Map(names.map((n) => [n, facts(n).serial]));
  await rotateCertificates(dir, leaves, names, now);
  return names.map((name) => {
    const after = facts(name);
    return { name, previousSerial: previous.get(name)!, serial: after.serial, notAfter: after.notAfter.toISOString() };
  });
}

/**
 * The leaves present in `dir` (every `<name>.crt` with its `<name>.key` naming a cellsim identity URI, but the CA's), each as the
 * spec that issues it again with the same names: its identity URI, DNS and IP names.
 */
export function leavesOnDisk(dir: string): LeafSpec[] {
  const names = readdirSync(dir)
    .filter((f) => f.endsWith('.crt') && f !== 'ca.crt')
    .map((f) => f.slice(0, -'.crt'.length))
    .filter((name) => existsSync(join(dir, `${name}.key`)))
    .sort();
  return names.flatMap((name) => {
    const facts = certFacts(readFileSync(join(dir, `${name}.crt`), 'utf8'));
    const uri = facts.uris.find((u) => u.startsWith(`${TRUST_DOMAIN}/`));
    return uri ? [{ name, uri, dns: facts.dns, ips: facts.ips }] : [];
  });
}
