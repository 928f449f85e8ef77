import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { measureLoad } from './market-load.js';

describe('market load (real vegeta)', () => {
  let server: Server;
  let url = '';
  const seen = new Map<string, number>();
  const dir = mkdtempSync(join(tmpdir(), 'market-load-test-'));
  before(async () => {
    server = createServer((req, res) => {
      const m = String(req.headers['x-market-id']);
      seen.set(m, (seen.get(m) ?? 0) + 1);
      res.writeHead(m === 'm-dead' ? 503 : 200).end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends the fixed rate with x-market-id drawn among the markets, and keeps no results file', async () => {
    seen.clear();
    const r = await measureLoad({ url, markets: 10, rate: 200, durationMs: 1000, dir });
    // On a busy machine vegeta may fall behind its pacer: what it did not send is counted as missing.
    assert.equal(r.requests + r.missing, 200);
    assert.ok(r.requests > 150, `${r.requests} sent`);
    assert.equal(r.failed, 0);
    assert.ok(r.p50 > 0 && r.p99 >= r.p50);
    assert.ok(seen.size > 5 && [...seen.keys()].every((m) => /^m-\d$/.test(m)), [...seen.keys()].join(' '));
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('results-')),
      [],
    );
  });

  it('runs a closed model with a fixed worker pool and counts answers that are not the expected status', async () => {
    const r = await measureLoad({ url, market: 'm-dead', rate: 0, workers: 4, durationMs: 500, dir, expect: 200 });
    assert.ok(r.requests > 0);
    assert.equal(r.failed, r.requests);
    const ok = await measureLoad({ url, market: 'm-dead', rate: 0, workers: 4, durationMs: 500, dir, expect: 503 });
    assert.equal(ok.failed, 0);
  });
});
