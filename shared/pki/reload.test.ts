import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server } from 'node:tls';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { ensureCertificates, rotateCertificates, tlsFiles, topologyLeaves } from './store.js';
import { tlsMaterialProblem, watchTls } from './reload.js';
import { dropPrevious, switchLeaves, trustBoth } from './ca-rotation.js';
import type { TlsMaterial } from './identity.js';
import { readTlsFiles } from './identity.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'cellsim-reload-'));
  dirs.push(d);
  return d;
}
const leaves = topologyLeaves(['cell-0']);
const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The serial of the certificate a TLS server at `port` presents to a new connection. */
function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', ca, servername: 'localhost' }, () => {
      resolve(s.getPeerCertificate().serialNumber);
      s.end();
    });
    s.on('error', reject);
  });
}

/** A mutual-TLS handshake with the server at `port` as `client`: 'ok' or the error's message. */
function handshake(port: number, client: TlsMaterial): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1', ...client, servername: 'localhost' }, () => {
      // TLS 1.3: a refused client certificate comes as an alert after the client's handshake.
      s.once('data', () => {
        resolve('ok');
        s.destroy();
      });
      s.write('ping');
    });
    s.on('error', (err: Error) => resolve(err.message));
    s.on('close', () => resolve('closed'));
  });
}

/** A logger whose lines land in `lines`. */
function capture(lines: Record<string, unknown>[]) {
  return pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
}

describe('shared/pki reload (watched TLS files)', () => {
  it('a TLS server serves a rotated pair on new connections; a mismatched, garbled or foreign pair is refused with a log line and the last good one kept', async () => {
    const d = tmp();
    const dir = join(d, 'tls');
    await ensureCertificates(dir, leaves);
    const files = tlsFiles(dir, 'router');
    const ca = readFileSync(files.ca, 'utf8');
    const lines: Record<string, unknown>[] = [];
    const source = watchTls(files, { logger: capture(lines), pollMs: 40 });
    const first = source.current();
    const server: Server = createServer({ cert: first.cert, key: first.key });
    source.onChange((m) => server.setSecureContext({ cert: m.cert, key: m.key }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    // A connection opened before the rotation stays up on its own handshake.
    const held = await new Promise<ReturnType<typeof connect>>((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1', ca, servername: 'localhost' }, () => resolve(s));
      s.on('error', reject);
    });
    try {
      const before = serialOf(first.cert);
      assert.equal(await servedSerial(port, ca), before);

      // 1. The key of a new pair renamed in, its certificate not yet: refused, the old pair served.
      const other = join(d, 'other');
      await ensureCertificates(other, []);
      copyFileSync(files.ca, join(other, 'ca.crt'));
      copyFileSync(join(dir, 'ca.key'), join(other, 'ca.key'));
      await rotateCertificates(other, leaves, ['router']);
      const next = readTlsFiles(tlsFiles(other, 'router'));
      writeFileSync(files.key, next.key);
      await sleep(200);
      assert.equal(source.current().cert, first.cert);
      assert.equal(await servedSerial(port, ca), before, 'the old certificate is still served');
      const refused = lines.filter((l) => l.event === 'tls_reload_refused');
      assert.equal(refused.length, 1, JSON.stringify(lines));
      assert.equal(refused[0]!.reason, 'the key does not belong to the certificate');
      assert.equal(refused[0]!.cert, files.cert);

      // 2. Its certificate half-written: refused (no PEM certificate).
      writeFileSync(files.cert, next.cert.slice(0, 200));
      await sleep(200);
      assert.equal(source.current().cert, first.cert);
      assert.equal(lines.filter((l) => l.event === 'tls_reload_refused').at(-1)!.reason, 'the certificate file holds no PEM certificate');

      // 3. The whole pair: taken, and new connections get it; the held connection still works.
      writeFileSync(files.cert, next.cert);
      await sleep(200);
      assert.equal(source.current().cert, next.cert);
      assert.equal(await servedSerial(port, ca), serialOf(next.cert));
      assert.ok(!held.destroyed && held.writable, 'the connection opened before the rotation is still open');
      assert.equal(lines.filter((l) => l.event === 'tls_reloaded').length, 1);

      // 4. A pair of another CA: refused, the last good one kept.
      const foreign = join(d, 'foreign');
      await ensureCertificates(
        foreign,
        leaves.filter((l) => l.name === 'router'),
      );
      const f = readTlsFiles(tlsFiles(foreign, 'router'));
      writeFileSync(files.key, f.key);
      writeFileSync(files.cert, f.cert);
      await sleep(200);
      assert.equal(source.current().cert, next.cert);
      assert.equal(await servedSerial(port, ca), serialOf(next.cert));
      assert.equal(lines.filter((l) => l.event === 'tls_reload_refused').at(-1)!.reason, 'the certificate is not signed by the CA');
    } finally {
      held.destroy();
      source.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('tlsMaterialProblem accepts a good pair and names what is wrong with a bad one', async () => {
    const dir = join(tmp(), 'tls');
    await ensureCertificates(dir, leaves);
    const router = readTlsFiles(tlsFiles(dir, 'router'));
    const cell = readTlsFiles(tlsFiles(dir, 'cell-0'));
    assert.equal(tlsMaterialProblem(router), undefined);
    assert.equal(tlsMaterialProblem({ ...router, key: cell.key }), 'the key does not belong to the certificate');
    assert.equal(tlsMaterialProblem({ ...router, key: 'nope' }), 'the key file holds no PEM private key');
    assert.equal(tlsMaterialProblem({ ...router, ca: '' }), 'the CA file holds no PEM certificate');
    assert.match(tlsMaterialProblem(router, new Date('2000-01-01')) ?? '', /not valid now/);
  });

  it('a CA rotation through a watched mutual-TLS server: the bundle is taken, both CAs accepted, then only the new', async () => {
    const dir = join(tmp(), 'tls');
    await ensureCertificates(dir, leaves);
    const files = tlsFiles(dir, 'cell-0');
    const lines: Record<string, unknown>[] = [];
    const source = watchTls(files, { logger: capture(lines), pollMs: 40 });
    const server: Server = createServer({ ...source.current(), requestCert: true, rejectUnauthorized: true }, (sock) => {
      sock.on('data', () => sock.write('pong'));
      sock.on('error', () => undefined);
    });
    source.onChange((m) => server.setSecureContext({ ca: m.ca, cert: m.cert, key: m.key }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const oldRouter = readTlsFiles(tlsFiles(dir, 'router'));
      assert.equal(await handshake(port, oldRouter), 'ok');
      // 1. Trust both: the server takes the bundle (its leaf, of the old CA, is signed by one of its CAs).
      const { next } = await trustBoth(dir);
      await sleep(200);
      assert.equal(source.current().ca, readFileSync(files.ca, 'utf8'), JSON.stringify(lines));
      assert.equal(lines.filter((l) => l.event === 'tls_reload_refused').length, 0, JSON.stringify(lines));
      assert.equal(await handshake(port, { ...oldRouter, ca: readFileSync(files.ca, 'utf8') }), 'ok', 'a client of the old CA');
      // 2. Switch leaves: the server now serves a leaf of the new CA, a client of the new CA gets in.
      await switchLeaves(dir);
      await sleep(200);
      const newRouter = readTlsFiles(tlsFiles(dir, 'router'));
      assert.equal(await handshake(port, { ...newRouter, ca: next }), 'ok', 'a client of the new CA, trusting the new CA only');
      assert.equal(await handshake(port, { ...oldRouter, ca: readFileSync(files.ca, 'utf8') }), 'ok', 'the old leaf is still trusted');
      // 3. Drop the old: a client of the old CA is refused, the new one still gets in.
      await dropPrevious(dir);
      await sleep(200);
      assert.equal(source.current().ca, next);
      assert.notEqual(await handshake(port, { ...oldRouter, ca: next }), 'ok', 'the old CA is no longer trusted');
      assert.equal(await handshake(port, { ...newRouter, ca: next }), 'ok');
      assert.equal(lines.filter((l) => l.event === 'tls_reloaded').length, 3, JSON.stringify(lines));
    } finally {
      source.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('tlsMaterialProblem with a CA bundle: a leaf of either CA passes, a leaf of a CA outside it is refused', async () => {
    const dir = join(tmp(), 'tls');
    await ensureCertificates(dir, leaves);
    const old = readTlsFiles(tlsFiles(dir, 'router'));
    await trustBoth(dir);
    await switchLeaves(dir);
    const fresh = readTlsFiles(tlsFiles(dir, 'router'));
    assert.equal(tlsMaterialProblem(old), undefined);
    assert.equal(tlsMaterialProblem({ ...old, ca: fresh.ca }), undefined, 'the old leaf with the bundle');
    assert.equal(tlsMaterialProblem(fresh), undefined, 'the new leaf with the bundle');
    const foreign = join(tmp(), 'tls');
    await ensureCertificates(foreign, []);
    const outside = readFileSync(join(foreign, 'ca.crt'), 'utf8');
    assert.equal(tlsMaterialProblem({ ...fresh, ca: outside }), 'the certificate is not signed by the CA');
    const [newCa] = fresh.ca.split(/(?<=-----END CERTIFICATE-----\n)/);
    assert.equal(tlsMaterialProblem({ ...old, ca: `${newCa}${outside}` }), 'the certificate is signed by none of the 2 CAs of the CA file');
  });

  it('one poll per files: handles share it, and it stops with the last', async () => {
    const dir = join(tmp(), 'tls');
    await ensureCertificates(dir, leaves);
    const files = tlsFiles(dir, 'cell-0');
    const a = watchTls(files, { pollMs: 40 });
    const b = watchTls(files, { pollMs: 40 });
    const seen: string[] = [];
    a.onChange(() => seen.push('a'));
    b.onChange(() => seen.push('b'));
    await rotateCertificates(dir, leaves, ['cell-0']);
    await sleep(200);
    assert.deepEqual(seen.sort(), ['a', 'b']);
    assert.equal(a.current().cert, b.current().cert);
    a.close();
    await rotateCertificates(dir, leaves, ['cell-0']);
    await sleep(200);
    assert.deepEqual(seen.sort(), ['a', 'b', 'b'], 'a closed handle hears nothing');
    b.close();
  });
});
