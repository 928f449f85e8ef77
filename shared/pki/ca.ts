/**
 * cellsim's local certificate authority (docs/security.md §TLS): a self-signed ECDSA P-256 CA and
 * the leaf certificates it signs, each naming one component by a SPIFFE-style URI SAN
 * (`spiffe://cellsim/<role>[/<id>]`), valid for both server and client authentication. Built on
 * @peculiar/x509 over Node's WebCrypto: no hand-written ASN.1, no shell-out to openssl.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** A certificate and its private key, both PEM. */
export interface PemPair {
  cert: string;
  key: string;
}

/** What a leaf certificate names: its common name, its identity URI and the hosts it serves. */
export interface LeafSpec {
  /** Common name, e.g. `router` or `cell-0`. */
  name: string;
  /** Identity URI SAN, e.g. `spiffe://cellsim/router`. */
  uri: string;
  /** DNS SANs (default `localhost`). */
  dns?: string[];
  /** IP SANs (default `127.0.0.1`). */
  ips?: string[];
  /** Validity in days (default 90). */
  days?: number;
}

function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f; // a positive INTEGER
  return Buffer.from(bytes).toString('hex');
}

async function keyPair(): Promise<CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
}

async function keyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** A new CA, valid `days` (default 3650) from now. */
export async function createCa(opts: { name?: string; days?: number; now?: Date } = {}): Promise<PemPair> {
  const keys = await keyPair();
  const now = opts.now ?? new Date();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${opts.name ?? 'cellsim local CA'}`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + (opts.days ?? 3650) * DAY_MS),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: await keyPem(keys.privateKey) };
}

/** A leaf certificate for `spec`, signed by `ca`, with a fresh key. */
export async function issueLeaf(ca: PemPair, spec: LeafSpec, now = new Date()): Promise<PemPair> {
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decode(ca.key)[0]!, ALG, false, ['sign']);
  const keys = await keyPair();
  const names: x509.JsonGeneralName[] = [
    { type: 'url', value: spec.uri },
    ...(spec.dns ?? ['localhost']).map((value) => ({ type: 'dns' as const, value })),
    ...(spec.ips ?? ['127.0.0.1']).map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${spec.name}`,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + (spec.days ?? 90) * DAY_MS),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: await keyPem(keys.privateKey) };
}

/** Facts of a PEM certificate that the store and the tests check. */
export interface CertFacts {
  subject: string;
  uris: string[];
  /** Its DNS and IP subject alternative names. */
  dns: string[];
  ips: string[];
  notAfter: Date;
  serial: string;
  /** Whether `issuerPem` signed it. */
  signedBy(issuerPem: string): Promise<boolean>;
}

/** Reads a PEM certificate. */
export function certFacts(pem: string): CertFacts {
  const cert = new x509.X509Certificate(pem);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san?.names.toJSON() ?? [];
  const of = (type: x509.JsonGeneralName['type']) => names.filter((n) => n.type === type).map((n) => n.value);
  return {
    subject: cert.subject,
    uris: of('url'),
    dns: of('dns'),
    ips: of('ip'),
    notAfter: cert.notAfter,
    serial: cert.serialNumber,
    async signedBy(issuerPem: string) {
      const issuer = new x509.X509Certificate(issuerPem);
      return cert.issuer === issuer.subject && (await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true }));
    },
  };
}
