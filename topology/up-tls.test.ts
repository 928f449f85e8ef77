/**
 * `cellctl up --tls` on real processes (Consul, cells, routers, control plane, Envoys): an order
 * routed over HTTPS through a router and through Envoy (both in mutual TLS to the cell, Envoy
 * configured by xDS over TLS with its certificate from SDS), and a cell refusing a plain-HTTP
 * caller, a caller without a certificate and one with another role's certificate.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { request } from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ManagedProcess } from '../infra/process.js';
import { startUp } from '../infra/harness/up.js';
import { tlsFiles } from '../shared/pki/names.js';
import { httpsGet } from './tls-rig.test-helper.js';

interface Topo {
  routers: { url: string }[];
  envoys: { url: string }[];
  cells: { id: string; url: string }[];
}

/** An HTTPS POST of an order trusting `ca`: status, the answering cell and the body. */
function postOrder(base: string, ca: string, key: string): Promise<{ status: number; cell: string; body: string }> {
  const body = JSON.stringify({ customerId: 'c-1', items: [{ sku: 'burrito', qty: 1, priceCents: 1299 }], address: '1 Market St' });
  return new Promise((resolve) => {
    const req = request(
      `${base}/v1/orders`,
      {
        method: 'POST',
        ca,
        timeout: 10_000,
        headers: { 'x-market-id': 'sf', 'idempotency-key': key, 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, cell: String(res.headers['x-cell-id'] ?? ''), body: text }));
      },
    );
    req.on('error', (err) => resolve({ status: 0, cell: '', body: err.message }));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

/** A plain-HTTP GET: its status, or 0 with the error when the server does not answer HTTP. */
function plainGet(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = get(url, { headers, timeout: 5000 }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, body: '' });
    });
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

describe('cellctl up --tls (real processes)', () => {
  let data: string;
  let up: ManagedProcess | undefined;
  let topo: Topo;
  let ca: string;

  before(async () => {
    data = mkdtempSync(join(tmpdir(), 'cellsim-up-tls-'));
    up = await startUp({ data, cells: 2, tls: true });
    topo = JSON.parse(readFileSync(join(data, 'topology.json'), 'utf8')) as Topo;
    ca = readFileSync(join(data, 'tls', 'ca.crt'), 'utf8');
  });
  after(async () => {
    await up?.stop(30_000);
    rmSync(data, { recursive: true, force: true });
  });

  it('routes an order over HTTPS through a router and through Envoy to the owning cell', async () => {
    const planes = [topo.routers[0]!.url, topo.envoys[0]!.url];
    for (const base of [...planes, ...topo.cells.map((c) => c.url)]) assert.match(base, /^https:\/\//, base);
    for (const base of planes) {
      const res = await postOrder(base, ca, `tls-${base}`);
      assert.equal(res.status, 201, `${base}: ${res.body}`);
      assert.match(res.cell, /^cell-\d$/, `${base}: the cell's id header`);
    }
  });

  it('a cell refuses a plain-HTTP caller, one without a certificate and one with another role', async () => {
    const cell = topo.cells.find((c) => c.id === 'cell-1')!;
    const headers = { 'x-market-id': 'sf' };
    const plain = await plainGet(`${cell.url.replace('https:', 'http:')}/v1/orders/ord_x`, headers);
    assert.equal(plain.status, 0, 'plain HTTP gets no HTTP answer');
    const anonymous = await httpsGet(`${cell.url}/v1/orders/ord_x`, ca, undefined, headers);
    assert.equal(anonymous.status, 403, anonymous.body);
    assert.match(anonymous.body, /"forbidden"/);
    const other = await httpsGet(`${cell.url}/v1/orders/ord_x`, ca, tlsFiles(join(data, 'tls'), 'control-plane'), headers);
    assert.equal(other.status, 403, other.body);
  });
});
