import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../ports.js';
import {
  attackArgs,
  notSent,
  readResults,
  startAttack,
  startPacedAttack,
  taggedUrl,
  urlTags,
  vegetaPlot,
  vegetaReport,
  type VegetaResult,
} from './index.js';

describe('vegeta client against the real vegeta and a local server', { timeout: 60_000 }, () => {
  let server: Server;
  let url = '';
  const seen: { url: string; market: string; body: string }[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'cellsim-vegeta-test-'));
  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ url: req.url ?? '', market: String(req.headers['x-market-id']), body });
        res.setHeader('x-cell-id', 'cell-7');
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ id: `o${seen.length}` }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const addr = server.address();
    assert.ok(addr && typeof addr === 'object');
    url = `http://127.0.0.1:${addr.port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('paces live targets at the rate, never sends the tag fragment, and streams every result back', async () => {
    seen.length = 0;
    const results: VegetaResult[] = [];
    let n = 0;
    const resultsFile = join(dir, 'paced.json');
    const attack = startPacedAttack({
      rate: 100,
      maxBody: -1,
      resultsFile,
      onResult: (r) => results.push(r),
      next: () => {
        n++;
        return {
          method: 'POST',
          url: taggedUrl(`${url}/v1/orders?x=1`, { n: String(n), m: 'sf' }),
          header: { 'x-market-id': 'sf' },
          body: `{"n":${n}}`,
        };
      },
    });
    await new Promise((r) => setTimeout(r, 2000));
    attack.end();
    const out = await attack.done;
    assert.equal(out.exitCode, 0, out.output);
    assert.ok(results.length >= 170 && results.length <= 230, `${results.length} requests in 2 s at 100/s`);
    assert.equal(out.results, results.length);
    assert.ok(
      seen.every((s) => s.url === '/v1/orders?x=1' && s.market === 'sf'),
      'the fragment never reaches the server',
    );
    const tags = results.map((r) => urlTags(r.url));
    assert.ok(tags.every((t) => t.m === 'sf' && Number(t.n) >= 1));
    assert.ok(results.every((r) => r.code === 200 && r.headers['x-cell-id'] === 'cell-7' && /^\{"id":"o\d+"\}$/.test(r.body.toString())));
    // vegeta stamps a request before reading its target: a pipe run dry would show as latency.
    assert.ok(results.filter((r) => r.latencyMs > 200).length === 0, 'no request counted a wait for its target');
    // The file holds the requests only (not vegeta's end-of-targets marker) and reads back the same.
    const lines = readFileSync(resultsFile, 'utf8').split('\n').filter(Boolean);
    assert.equal(lines.length, results.length);
    let back = 0;
    for await (const r of readResults(resultsFile)) back += r.code === 200 ? 1 : 0;
    assert.equal(back, results.length);
    const report = await vegetaReport(resultsFile);
    assert.equal(report.requests, results.length);
    assert.equal(report.success, 1);
    assert.ok(report.p99 >= report.p50 && report.p50 > 0);
    await vegetaPlot(resultsFile, join(dir, 'plot.html'), 'test');
    assert.match(readFileSync(join(dir, 'plot.html'), 'utf8'), /<html/i);
  });

  it('marks a refused connection as not sent', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const results: VegetaResult[] = [];
    const attack = startAttack({ rate: 0, maxWorkers: 2, resultsFile: join(dir, 'refused.json'), onResult: (r) => results.push(r) });
    attack.send({ method: 'GET', url: `${closed}/x` });
    attack.end();
    await attack.done;
    assert.equal(results.length, 1);
    assert.equal(results[0]!.code, 0);
    assert.ok(notSent(results[0]!), results[0]!.error);
  });

  it('refuses an unbounded worker pool at rate 0', () => {
    assert.throws(() => attackArgs({ rate: 0, resultsFile: 'x' }), /maxWorkers/);
    assert.deepEqual(attackArgs({ rate: 50, resultsFile: 'x', timeoutMs: 1500, durationMs: 2000 }), [
      'attack',
      '-format=json',
      '-rate=50/1s',
      '-max-body=0',
      '-lazy',
      '-duration=2000ms',
      '-timeout=1500ms',
    ]);
  });
});
