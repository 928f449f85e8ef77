import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { after, describe, it } from 'node:test';
import { ensureCertificates, identityUri, rotateCertificates, tlsFiles, topologyLeaves } from './store.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'cellsim-pki-'));
  dirs.push(d);
  return join(d, 'tls');
}

const mode = (p: string) => statSync(p).mode & 0o777;
const leaves = topologyLeaves(['cell-0', 'cell-1']);

describe('shared/pki store', () => {
  it('makes a CA and one certificate per component, keys 0600 in a 0700 directory', async () => {
    const dir = tmp();
    const set = await ensureCertificates(dir, leaves);
    assert.deepEqual(set.issued, ['ca', 'router', 'envoy', 'control-plane', 'consul', 'supervisor', 'cell-0', 'cell-1']);
    assert.equal(mode(dir), 0o700);
    assert.equal(mode(join(dir, 'ca.key')), 0o600);
    const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
    assert.equal(ca.ca, true);
    for (const spec of leaves) {
      const f = tlsFiles(dir, spec.name);
      assert.equal(mode(f.key), 0o600, `${spec.name}.key`);
      const cert = new X509Certificate(readFileSync(f.cert));
      assert.equal(cert.ca, false);
      assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), `${spec.name} is signed by the CA`);
      assert.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(f.key))), `${spec.name}.key matches`);
      assert.match(cert.subjectAltName ?? '', new RegExp(`URI:${spec.uri}`));
      assert.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    }
    assert.match(
      new X509Certificate(readFileSync(tlsFiles(dir, 'cell-1').cert)).subjectAltName ?? '',
      /URI:spiffe:\/\/cellsim\/cell\/cell-1/,
    );
    assert.match(new X509Certificate(readFileSync(tlsFiles(dir, 'consul').cert)).subjectAltName ?? '', /DNS:server\.dc1\.consul/);
  });

  it('keeps what is valid, renews a leaf near its end, and rotation keeps the CA', async () => {
    const dir = tmp();
    await ensureCertificates(dir, leaves);
    const before = readFileSync(tlsFiles(dir, 'router').cert, 'utf8');
    assert.deepEqual((await ensureCertificates(dir, leaves)).issued, []);
    // 70 days on, every 90-day leaf is within its last 30 days: all renewed, the CA kept.
    const later = new Date(Date.now() + 70 * 86_400_000);
    assert.deepEqual(
      (await ensureCertificates(dir, leaves, later)).issued,
      leaves.map((l) => l.name),
    );
    const caBefore = readFileSync(join(dir, 'ca.crt'), 'utf8');
    assert.deepEqual(await rotateCertificates(dir, leaves, ['envoy']), ['envoy']);
    assert.equal(readFileSync(join(dir, 'ca.crt'), 'utf8'), caBefore);
    assert.notEqual(readFileSync(tlsFiles(dir, 'router').cert, 'utf8'), before);
    await assert.rejects(rotateCertificates(dir, leaves, ['nobody']), /no certificate named nobody/);
  });

  it('a new CA reissues every leaf', async () => {
    const dir = tmp();
    await ensureCertificates(dir, leaves);
    rmSync(join(dir, 'ca.crt'));
    assert.deepEqual((await ensureCertificates(dir, leaves)).issued, ['ca', ...leaves.map((l) => l.name)]);
  });

  it('names the addresses given per leaf, and reissues only a leaf that lacks one asked for', async () => {
    const dir = tmp();
    const hosts = topologyLeaves(['cell-0', 'cell-1'], { router: ['10.77.9.31', '10.77.9.32'], 'cell-1': ['10.77.9.101'] });
    await ensureCertificates(dir, hosts);
    const cert = (name: string) => new X509Certificate(readFileSync(tlsFiles(dir, name).cert));
    // checkIP/checkHost: the check a TLS client makes of the address it dialled.
    for (const ip of ['127.0.0.1', '10.77.9.31', '10.77.9.32']) assert.equal(cert('router').checkIP(ip), ip, `router names ${ip}`);
    assert.equal(cert('router').checkHost('localhost'), 'localhost');
    assert.equal(cert('cell-1').checkIP('10.77.9.101'), '10.77.9.101');
    assert.equal(cert('cell-1').checkIP('10.77.9.31'), undefined, 'a cell names its own host only');
    assert.equal(cert('envoy').checkIP('10.77.9.31'), undefined);
    assert.deepEqual((await ensureCertificates(dir, hosts)).issued, []);
    // Another run's hosts (another subnet): the leaves that lack its addresses are issued again.
    const moved = topologyLeaves(['cell-0', 'cell-1'], { router: ['10.77.9.31', '10.77.9.32'], 'cell-1': ['10.77.8.101'] });
    assert.deepEqual((await ensureCertificates(dir, moved)).issued, ['cell-1']);
    assert.equal(cert('cell-1').checkIP('10.77.8.101'), '10.77.8.101');
    // Fewer addresses asked than named: kept (a plain run after a --hosts run reissues nothing).
    assert.deepEqual((await ensureCertificates(dir, leaves)).issued, []);
  });

  it('the certificates do mutual TLS with node:tls, and the server sees the client identity', async () => {
    const dir = tmp();
    await ensureCertificates(dir, leaves);
    const s = tlsFiles(dir, 'cell-0');
    const c = tlsFiles(dir, 'router');
    const server = createServer(
      { cert: readFileSync(s.cert), key: readFileSync(s.key), ca: readFileSync(s.ca), requestCert: true, rejectUnauthorized: true },
      (sock) => {
        sock.end(sock.getPeerCertificate().subjectaltname ?? '');
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const seen = await new Promise<string>((resolve, reject) => {
        const sock: TLSSocket = connect({
          host: '127.0.0.1',
          port,
          cert: readFileSync(c.cert),
          key: readFileSync(c.key),
          ca: readFileSync(c.ca),
        });
        let text = '';
        sock.on('data', (d: Buffer) => (text += d.toString()));
        sock.on('end', () => resolve(text));
        sock.on('error', reject);
      });
      assert.match(seen, new RegExp(`URI:${identityUri('router')}`));
    } finally {
      server.close();
    }
  });
});
