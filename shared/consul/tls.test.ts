/**
 * A followed CA file (tls.ts `followConsulCa`) with both transports, against two local HTTPS
 * servers whose certificates come from two CAs: a rotated file is used for the next connection
 * (one CA, then the bundle of both, then the other alone), and a file that cannot serve is refused
 * with one `consul_ca_refused` line, the last good CA kept.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { ensureCertificates, tlsFiles, topologyLeaves } from '../pki/store.js';
import { nodeHttpTransport } from './node-http.js';
import { consulCaProblem, followConsulCa } from './tls.js';
import type { ConsulTransport } from './transport.js';
import { undiciTransport } from './undici.js';

const tmp = mkdtempSync(join(tmpdir(), 'cellsim-consul-ca-'));
const servers: Server[] = [];
/** Per CA (a, b): its PEM and the URL of a server with a leaf it signed. */
const side: Record<'a' | 'b', { ca: string; url: string }> = { a: { ca: '', url: '' }, b: { ca: '', url: '' } };

before(async () => {
  for (const name of ['a', 'b'] as const) {
    const dir = join(tmp, name);
    await ensureCertificates(dir, topologyLeaves([]));
    const f = tlsFiles(dir, 'consul');
    const server = createServer({ cert: readFileSync(f.cert), key: readFileSync(f.key) }, (_req, res) => res.end(name));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    side[name] = { ca: readFileSync(f.ca, 'utf8'), url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/` };
  }
});
after(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  rmSync(tmp, { recursive: true, force: true });
});

/** The server's answer through `send`, or `refused: <why>` when the connection fails. */
async function reach(send: ConsulTransport, which: 'a' | 'b'): Promise<string> {
  try {
    const res = await send({ method: 'GET', url: side[which].url, headers: {}, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
    return await res.body.text();
  } catch (err) {
    return `refused: ${(err as Error).message}`;
  }
}

async function waitFor(what: string, ok: () => boolean): Promise<void> {
  for (const until = Date.now() + 5000; !ok();) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("a followed CA file (Consul's CA rotation)", () => {
  it('accepts one certificate or a bundle; refuses no certificate or a garbled one', () => {
    assert.equal(consulCaProblem(side.a.ca), undefined);
    assert.equal(consulCaProblem(side.a.ca + side.b.ca), undefined);
    assert.equal(consulCaProblem('hello'), 'holds no PEM certificate');
    const garbled = side.a.ca.replace(/\n[A-Za-z0-9+/]{20}/, '\n!!!!!!!!!!!!!!!!!!!!');
    assert.match(consulCaProblem(side.b.ca + garbled) ?? '', /^certificate 2 of 2 does not parse/);
    assert.equal(consulCaProblem(side.b.ca + side.a.ca.slice(0, 200)), 'holds a certificate cut off before its END line');
  });

  for (const [name, make] of [
    ['node:https', nodeHttpTransport],
    ['undici', undiciTransport],
  ] as const) {
    it(`${name}: the next connection trusts the rotated file (one CA, both, the other); a bad file is refused and the last CA kept`, async () => {
      const file = join(tmp, `ca-${name.replace(':', '-')}.crt`);
      writeFileSync(file, side.a.ca);
      const lines: Record<string, unknown>[] = [];
      const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
      const ca = followConsulCa(file, { pollMs: 50, logger });
      const send = make({ ca });
      const events = (e: string) => lines.filter((l) => l.event === e).length;

      assert.equal(await reach(send, 'a'), 'a');
      assert.match(await reach(send, 'b'), /^refused: .*certificate/i, 'a leaf of the other CA is not trusted');

      // A rotation's first step: the new CA and the old, here glued with no newline between them
      // (the store writes a PEM without a final newline), which OpenSSL alone would not read.
      writeFileSync(file, side.b.ca + side.a.ca);
      await waitFor('the bundle', () => events('consul_ca_reloaded') === 1);
      assert.equal(lines.at(-1)!.certificates, 2);
      assert.equal(await reach(send, 'a'), 'a');
      assert.equal(await reach(send, 'b'), 'b', 'the bundle trusts the new CA');

      writeFileSync(file, side.b.ca + side.a.ca.slice(0, 200)); // half-copied
      await waitFor('the refusal', () => events('consul_ca_refused') === 1);
      assert.match(String(lines.at(-1)!.reason), /cut off before its END line/);
      assert.equal(ca.current(), `${side.b.ca.trim()}\n${side.a.ca.trim()}\n`, 'the last good CA is kept');
      assert.equal(await reach(send, 'b'), 'b');

      writeFileSync(file, side.b.ca); // the last step: the old CA dropped
      await waitFor('the new CA alone', () => events('consul_ca_reloaded') === 2);
      assert.equal(await reach(send, 'b'), 'b');
      assert.match(await reach(send, 'a'), /^refused: .*certificate/i, 'the dropped CA is no longer trusted for a new connection');
    });
  }
});
