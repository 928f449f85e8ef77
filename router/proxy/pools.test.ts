import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, describe, it } from 'node:test';
import { readTlsFiles } from '../../shared/pki/identity.js';
import { watchTls } from '../../shared/pki/reload.js';
import { ensureCertificates, rotateCertificates, tlsFiles, topologyLeaves } from '../../shared/pki/store.js';
import type { Endpoint } from '../../shared/routing-table.js';
import { PoolSet } from './pools.js';

const root = mkdtempSync(join(tmpdir(), 'cellsim-pools-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('router/proxy pools under TLS', () => {
  it("a rotation of the router's files replaces the pools: requests after it present the new certificate, one in flight finishes", async () => {
    const dir = join(root, 'tls');
    const leaves = topologyLeaves(['cell-0']);
    await ensureCertificates(dir, leaves);
    let hold: (() => void) | undefined;
    const cell = createServer({ ...readTlsFiles(tlsFiles(dir, 'cell-0')), requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const serial = (req.socket as TLSSocket).getPeerCertificate().serialNumber ?? 'none';
      if (req.url === '/slow') hold = () => res.end(serial);
      else res.end(serial);
    });
    await new Promise<void>((r) => cell.listen(0, '127.0.0.1', r));
    const ep: Endpoint = {
      id: 'cell-0-blue',
      cell: 'cell-0',
      address: '127.0.0.1',
      port: (cell.address() as AddressInfo).port,
      version: 'v1',
      color: 'blue',
    };
    const files = tlsFiles(dir, 'router');
    const serial = () => new X509Certificate(readFileSync(files.cert)).serialNumber;
    const pools = new PoolSet({ tls: watchTls(files, { pollMs: 40 }) });
    const get = async (path: string) => await (await pools.get(ep).request({ method: 'GET', path })).body.text();
    try {
      const before = serial();
      assert.equal(await get('/'), before);
      const slow = get('/slow');
      while (!hold) await new Promise((r) => setTimeout(r, 10));
      await rotateCertificates(dir, leaves, ['router']);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await get('/'), serial(), 'a request after the rotation presents the new certificate');
      assert.notEqual(serial(), before);
      hold();
      assert.equal(await slow, before, 'the request in flight across the rotation finished on its connection');
    } finally {
      await pools.close(1000);
      cell.closeAllConnections();
      await new Promise<void>((r) => cell.close(() => r()));
    }
  });
});
