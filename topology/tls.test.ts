/**
 * The supervisor's HTTPS probes follow the topology's CA file and their own certificate
 * (docs/tls.md §Rotating the CA): through the three steps of a CA rotation, a probe of a mutual-TLS
 * server that takes each step (watchTls) keeps being answered, also once the server trusts and
 * serves only the new CA.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { dropPrevious, switchLeaves, trustBoth } from '../shared/pki/ca-rotation.js';
import { watchTls } from '../shared/pki/reload.js';
import { ensureCertificates, tlsFiles, topologyLeaves } from '../shared/pki/store.js';
import type { TopologyConfig } from './config.js';
import { probe } from './tls.js';

const root = mkdtempSync(join(tmpdir(), 'cellsim-tls-probe-'));
after(() => rmSync(root, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('topology/tls probes', () => {
  it('a probe, with and without its own certificate, is answered through every step of a CA rotation', async () => {
    const dir = join(root, 'tls');
    await ensureCertificates(dir, topologyLeaves(['cell-0']));
    const cfg = { dataDir: root, tls: true } as unknown as TopologyConfig;
    const source = watchTls(tlsFiles(dir, 'cell-0'), { pollMs: 40 });
    // A server that asks every client for a certificate of its CA on /mtls, like a mutual-TLS endpoint.
    const server: Server = createServer({ ...source.current(), requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const authorized = (req.socket as unknown as { authorized: boolean }).authorized;
      res.writeHead(req.url === '/mtls' && !authorized ? 403 : 200, { connection: 'close' }).end('ok');
    });
    source.onChange((m) => server.setSecureContext({ ca: m.ca, cert: m.cert, key: m.key }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
    const both = async (step: string) => {
      assert.equal((await probe(cfg, `${url}/`, 2000)).ok, true, `${step}: a probe trusting the CA file`);
      assert.equal((await probe(cfg, `${url}/mtls`, 2000, 'supervisor')).ok, true, `${step}: a probe with the supervisor's certificate`);
    };
    try {
      await both('before');
      await trustBoth(dir);
      await sleep(300);
      await both('trust both');
      await switchLeaves(dir);
      await sleep(300);
      await both('switch leaves');
      await dropPrevious(dir);
      await sleep(300);
      await both('drop the old');
    } finally {
      source.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
