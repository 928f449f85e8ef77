import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { checkServerRole, peerClient } from './client.js';
import { peerRole, readTlsFiles } from './identity.js';
import { watchTls } from './reload.js';
import { ensureCertificates, rotateCertificates, tlsFiles, topologyLeaves } from './store.js';

describe('shared/pki peer client', () => {
  let root: string;
  let dir: string;
  const servers: Server[] = [];

  /** An HTTPS server with `name`'s certificate that answers the role of the client's certificate. */
  async function serve(name: string): Promise<string> {
    const s = createServer({ ...readTlsFiles(tlsFiles(dir, name)), requestCert: true, rejectUnauthorized: false }, (req, res) => {
      res.end(peerRole(req.socket as TLSSocket) ?? 'anonymous');
    });
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return `https://127.0.0.1:${(s.address() as AddressInfo).port}`;
  }

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'cellsim-peer-'));
    dir = join(root, 'tls');
    await ensureCertificates(dir, topologyLeaves(['cell-0']));
  });
  after(() => {
    for (const s of servers) s.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('calls a cell over HTTPS presenting its own certificate', async () => {
    const client = peerClient(readTlsFiles(tlsFiles(dir, 'control-plane')), ['cell']);
    try {
      assert.equal(client.scheme, 'https');
      const url = await serve('cell-0');
      assert.equal(client.base('127.0.0.1', 1), 'https://127.0.0.1:1');
      assert.equal(await client.text(`${url}/metrics`, 5000), 'control-plane');
    } finally {
      await client.close();
    }
  });

  it('refuses a server whose certificate names another role', async () => {
    const client = peerClient(readTlsFiles(tlsFiles(dir, 'control-plane')), ['cell']);
    try {
      const url = await serve('router');
      await assert.rejects(client.text(`${url}/metrics`, 5000));
      const both = peerClient(readTlsFiles(tlsFiles(dir, 'control-plane')), ['cell', 'router']);
      assert.equal(await both.text(`${url}/metrics`, 5000), 'control-plane');
      await both.close();
    } finally {
      await client.close();
    }
  });

  it('with watched files, presents a rotated certificate on the requests after the rotation', async () => {
    const s = createServer({ ...readTlsFiles(tlsFiles(dir, 'cell-0')), requestCert: true, rejectUnauthorized: false }, (req, res) => {
      res.end((req.socket as TLSSocket).getPeerCertificate().serialNumber ?? 'none');
    });
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(s.address() as AddressInfo).port}/`;
    const files = tlsFiles(dir, 'control-plane');
    const serial = () => new X509Certificate(readFileSync(files.cert)).serialNumber;
    const client = peerClient(watchTls(files, { pollMs: 40 }), ['cell']);
    try {
      const before = serial();
      assert.equal(await client.text(url, 5000), before);
      await rotateCertificates(dir, topologyLeaves(['cell-0']), ['control-plane']);
      assert.notEqual(serial(), before);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await client.text(url, 5000), serial(), 'the kept-alive connection is not reused: the new certificate is presented');
    } finally {
      await client.close();
    }
  });

  it('speaks plain HTTP without TLS material', () => {
    const client = peerClient(undefined, ['cell']);
    assert.equal(client.scheme, 'http');
    assert.equal(client.base('10.0.0.1', 80), 'http://10.0.0.1:80');
  });

  it('checks the identity URI, not the host name', () => {
    const check = checkServerRole(['cell']);
    const cert = (san: string) => ({ subjectaltname: san }) as Parameters<typeof check>[1];
    assert.equal(check('10.9.9.9', cert('URI:spiffe://cellsim/cell/cell-3')), undefined);
    assert.ok(check('127.0.0.1', cert('URI:spiffe://cellsim/router, IP Address:127.0.0.1')) instanceof Error);
    assert.ok(check('127.0.0.1', cert('URI:spiffe://other/cell/cell-0')) instanceof Error);
  });
});
