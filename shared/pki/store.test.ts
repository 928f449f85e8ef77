import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { after, describe, it } from 'node:test';
import { ensureCertificates, identityUri, rotateCertificates, tlsFiles, topologyLeaves } from './store.js';
import { createCa } from './ca.js';
import { caStage, dropPrevious, moveNextKey, NEXT_KEY, switchLeaves, trustBoth } from './ca-rotation.js';
import { pemCertificates } from './identity.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'cellsim-pki-'));
  dirs.push(d);
  return join(d, 'tls');
}

const mode = (p: string) => statSync(p).mode & 0o777;
const leaves = topologyLeaves(['cell-0', 'cell-1']);
const addressed = topologyLeaves(['cell-0', 'cell-1'], { router: ['10.77.9.31'] });

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

  it('a CA rotation: trust both, switch every leaf with its names, drop the old; ensureCertificates keeps working at each step', async () => {
    const dir = tmp();
    await ensureCertificates(dir, addressed);
    const caFile = join(dir, 'ca.crt');
    const old = pemCertificates(readFileSync(caFile, 'utf8'))[0]!;
    const cert = (name: string) => new X509Certificate(readFileSync(tlsFiles(dir, name).cert));
    const oldRouter = cert('router');
    assert.deepEqual(caStage(dir), { stage: 'one', ca: old });

    const { previous, next } = await trustBoth(dir);
    assert.equal(previous, old);
    assert.deepEqual(pemCertificates(readFileSync(caFile, 'utf8')), [next, old], 'ca.crt = the new CA, then the old');
    const newCa = new X509Certificate(next);
    assert.ok(newCa.ca && newCa.checkPrivateKey(createPrivateKey(readFileSync(join(dir, 'ca.key')))), 'ca.key is the new CA key');
    assert.notEqual(newCa.subject, new X509Certificate(old).subject, 'the two CAs have different names');
    assert.equal(mode(join(dir, 'ca.key')), 0o600);
    assert.ok(!existsSync(join(dir, NEXT_KEY)));
    assert.equal(cert('router').serialNumber, oldRouter.serialNumber, 'no leaf changed yet');
    await assert.rejects(trustBoth(dir), /already in a CA rotation/);
    await assert.rejects(dropPrevious(dir), /router\.crt is not signed by the new CA yet|not signed by the new CA/);

    const switched = await switchLeaves(dir);
    assert.deepEqual(switched.map((s) => s.name).sort(), addressed.map((l) => l.name).sort());
    for (const spec of addressed) {
      const c = cert(spec.name);
      assert.ok(c.checkIssued(newCa) && c.verify(newCa.publicKey), `${spec.name} is signed by the new CA`);
      assert.ok(c.checkPrivateKey(createPrivateKey(readFileSync(tlsFiles(dir, spec.name).key))));
      assert.match(c.subjectAltName ?? '', new RegExp(`URI:${spec.uri}`));
    }
    assert.equal(cert('router').checkIP('10.77.9.31'), '10.77.9.31', 'the same addresses');
    assert.equal(switched.find((s) => s.name === 'router')!.previousSerial, oldRouter.serialNumber.toLowerCase());
    assert.deepEqual(await switchLeaves(dir), [], 'a second run has nothing left to switch');
    // `cellctl up --tls` in the middle: the new CA signs, every leaf kept.
    assert.deepEqual((await ensureCertificates(dir, addressed)).issued, []);

    assert.equal(await dropPrevious(dir), next);
    assert.equal(readFileSync(caFile, 'utf8'), next);
    assert.deepEqual(caStage(dir), { stage: 'one', ca: next });
    assert.deepEqual((await ensureCertificates(dir, addressed)).issued, []);
  });

  it('a CA rotation stopped between its writes is told apart and finished; a key of no CA is refused', async () => {
    const dir = tmp();
    await ensureCertificates(dir, leaves);
    const caFile = join(dir, 'ca.crt');
    const old = readFileSync(caFile, 'utf8');
    // Stopped after ca.crt trusts both, before the new key was renamed in: ca.key is still the old CA's.
    const fresh = await createCa({ name: 'cellsim local CA next' });
    writeFileSync(join(dir, NEXT_KEY), fresh.key, { mode: 0o600 });
    writeFileSync(caFile, `${fresh.cert}\n${old}`);
    const stage = caStage(dir);
    assert.equal(stage.stage === 'both' && stage.keyMoved, false);
    // ensureCertificates still signs with the old CA, whose key it holds: nothing to issue.
    assert.deepEqual((await ensureCertificates(dir, leaves)).issued, []);
    await assert.rejects(switchLeaves(dir), /does not trust a new CA yet/);
    moveNextKey(dir);
    assert.equal(caStage(dir).stage === 'both' && (caStage(dir) as { keyMoved: boolean }).keyMoved, true);
    assert.equal((await switchLeaves(dir)).length, leaves.length);
    // The new CA's key lost: refused, naming the way out.
    writeFileSync(join(dir, 'ca.key'), (await createCa()).key);
    assert.throws(() => caStage(dir), /is the key of no certificate/);
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
