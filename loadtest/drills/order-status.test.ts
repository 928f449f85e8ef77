import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { caClient, type PeerClient } from '../../shared/pki/client.js';
import { readTlsFiles } from '../../shared/pki/identity.js';
import { ensureCertificates, tlsFiles, topologyLeaves } from '../../shared/pki/store.js';
import type { DrillEnv } from '../env/types.js';
import { readOrderStatus } from './order-status.js';
import type { DrillOptions } from './types.js';

describe('reading an order back through an HTTPS edge (cellctl up --tls)', () => {
  let root: string;
  let server: Server;
  let url: string;
  let client: PeerClient | undefined;
  const opts = { planes: ['router'] } as DrillOptions;
  /** Only what readOrderStatus uses of a topology: its targets and, under --tls, its fetch. */
  const env = (fetchFn?: DrillEnv['fetch']) =>
    ({ targets: () => [{ replica: 'router-1', url }], ...(fetchFn ? { fetch: fetchFn } : {}) }) as unknown as DrillEnv;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'cellsim-order-status-'));
    const dir = join(root, 'tls');
    await ensureCertificates(dir, topologyLeaves(['cell-1']));
    // The edge: o1 is DELIVERED, any other order is unknown.
    server = createServer(readTlsFiles(tlsFiles(dir, 'router')), (req, res) => {
      const known = req.url === '/v1/orders/o1' && req.headers['x-market-id'] === 'nyc';
      res.statusCode = known ? 200 : 404;
      res.end(JSON.stringify(known ? { id: 'o1', status: 'DELIVERED' } : { error: { code: 'not_found' } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = caClient(readFileSync(join(dir, 'ca.crt'), 'utf8'));
  });
  after(async () => {
    await client?.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(root, { recursive: true, force: true });
  });

  it("reads the status through the topology's fetch, which trusts its CA; a 404 is 'missing'", async () => {
    assert.equal(await readOrderStatus(env(client!.fetch), opts, { id: 'o1', market: 'nyc' }), 'DELIVERED');
    assert.equal(await readOrderStatus(env(client!.fetch), opts, { id: 'o2', market: 'nyc' }), 'missing');
  });

  it("without the topology's fetch, Node's own refuses the topology's CA", async () => {
    await assert.rejects(readOrderStatus(env(), opts, { id: 'o1', market: 'nyc' }), /fetch failed/);
  });
});
