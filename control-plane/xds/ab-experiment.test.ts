/**
 * An A/B experiment on both planes (docs/experiments.md): real Consul, the real router process,
 * the real control plane's xDS server and a real Envoy, one echo instance of `cell-1` per color.
 * `cellctl experiment start m-1 --header x-customer-id --percent 20` (through the control plane's
 * admin API) gives market m-1's record `experiment: {header: x-customer-id, color: green, percent: 20}`;
 * 500 distinct customer IDs, each sent twice through each plane, must each land on one color,
 * the same through the router and Envoy and the one shared/experiment.ts computes, green for
 * about 20 % of them (binomial tolerance); a request without the header goes to blue. Once the
 * experiment is stopped (`cellctl experiment stop`) every customer lands on blue again.
 * `cellctl experiment status --json` must report each arm's requests on each plane.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { ConsulClient } from '../../shared/consul.js';
import { experimentArm } from '../../shared/experiment.js';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExperimentStats } from '../experiment-stats.js';
import { cellctlJson, runCellctl } from '../../infra/harness/up.js';
import { startConsul } from '../../infra/harness/consul.js';
import { seedKv, startEchoCell, type EchoCell } from '../../infra/harness/echo-cell.js';
import { ProcessScope } from '../../infra/process.js';
import { startRouterProcess } from '../../router/testing.js';
import { startControlPlane, startTestEnvoy } from './testing.js';

type Color = 'blue' | 'green';
const KEYS = Array.from({ length: 500 }, (_, i) => `cust-${i}-${(i * 7919) % 1000}`);
const SPEC = { header: 'x-customer-id', color: 'green', percent: 20 } as const;
const dispatcher = new Agent({ connections: 16, keepAliveTimeout: 10_000 });

/** The color that answers one request for m-1 through `base`, keyed by `customer` when given. */
async function colorOf(base: string, customer: string | undefined): Promise<Color> {
  const headers: Record<string, string> = { 'x-market-id': 'm-1' };
  if (customer !== undefined) headers['x-customer-id'] = customer;
  const res = await request(`${base}/v1/orders`, { headers, dispatcher });
  const text = await res.body.text();
  assert.equal(res.statusCode, 200, text);
  return (JSON.parse(text) as { color: Color }).color;
}

/** The colors answering each key through `base`, `rounds` times each, 16 requests at a time. */
async function colorsByKey(base: string, keys: readonly string[], rounds: number): Promise<Map<string, Color[]>> {
  const out = new Map<string, Color[]>(keys.map((k) => [k, []]));
  const jobs = keys.flatMap((k) => Array.from({ length: rounds }, () => k));
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const k = jobs[next++]!;
      out.get(k)!.push(await colorOf(base, k));
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return out;
}

/**
 * Waits (at most 20 s) until `base` answers `key` with `color`: the plane caught up with Consul.
 * Returns the answers other than 200 seen meanwhile (status: count).
 */
async function untilColor(base: string, key: string, color: Color): Promise<Record<string, number>> {
  const others: Record<string, number> = {};
  for (const until = Date.now() + 20_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
    const res = await request(`${base}/v1/orders`, { headers: { 'x-market-id': 'm-1', 'x-customer-id': key }, dispatcher });
    const text = await res.body.text();
    if (res.statusCode !== 200) {
      others[`${res.statusCode} ${text}`] = (others[`${res.statusCode} ${text}`] ?? 0) + 1;
      continue;
    }
    if ((JSON.parse(text) as { color: Color }).color === color) return others;
  }
  throw new Error(`${base}: ${key} not answered by ${color} within 20 s (other answers: ${JSON.stringify(others)})`);
}

describe('A/B experiment by a hash of x-customer-id, router and Envoy', { timeout: 240_000 }, () => {
  const scope = new ProcessScope();
  let consulUrl = '';
  let planes: { name: string; url: string }[] = [];
  let envoyAdmin = '';
  const cells: EchoCell[] = [];
  let cpUrl = '';
  const dir = mkdtempSync(join(tmpdir(), 'ab-experiment-'));
  const tokenFile = join(dir, 'operator');
  /** `cellctl experiment <args> --json` against the test's control plane. */
  const cellctl = <T>(args: string[]) => cellctlJson<T>(dir, ['experiment', ...args, '--control-plane', cpUrl, '--token-file', tokenFile]);
  const marketRecord = async () =>
    JSON.parse((await new ConsulClient({ url: consulUrl }).kv.get('cellsim/markets/m-1')).value?.value ?? 'null') as Record<
      string,
      unknown
    >;
  const expected = new Map(KEYS.map((k) => [k, experimentArm(SPEC, k) === 'variant' ? 'green' : 'blue'] as const));
  const aVariantKey = KEYS.find((k) => expected.get(k) === 'green')!;

  before(async () => {
    const consul = await startConsul();
    scope.adopt(consul.proc);
    consulUrl = consul.url;
    cells.push(await startEchoCell({ cell: 'cell-1', color: 'blue', consulUrl, version: 'v1' }));
    cells.push(await startEchoCell({ cell: 'cell-1', color: 'green', consulUrl, version: 'v2' }));
    await seedKv(consulUrl, { cells: { 'cell-1': { activeColor: 'blue' } }, markets: { 'm-1': { cell: 'cell-1' } } });
    const router = await startRouterProcess(scope, { consulUrl, name: 'router-ab' });
    const operator = `op-${randomBytes(16).toString('hex')}`;
    writeFileSync(tokenFile, operator, { mode: 0o600 });
    const cp = await startControlPlane(scope, {
      consulUrl,
      id: 'cp-ab',
      testHooks: false,
      env: { CELLSIM_OPERATOR_TOKEN: operator, CELLSIM_READ_TOKEN: `rd-${randomBytes(16).toString('hex')}` },
    });
    cpUrl = cp.httpUrl;
    const envoy = await startTestEnvoy(scope, { xdsPort: cp.xdsPort, id: 'edge-ab' });
    envoyAdmin = envoy.adminUrl;
    planes = [
      { name: 'router', url: router.url },
      { name: 'envoy', url: envoy.url },
    ];
    for (const p of planes) await untilColor(p.url, aVariantKey, 'blue');
  });
  after(async () => {
    for (const c of cells) await c.close();
    await scope.close();
    await dispatcher.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps each customer on one color through both planes, green for its share, and blue for all once removed', async (t) => {
    // Refused input writes nothing; a dry run writes nothing either.
    const refused = await runCellctl(dir, [
      'experiment',
      'start',
      'm-1',
      '--header',
      'x-market-id',
      '--percent',
      '20',
      '--control-plane',
      cpUrl,
      '--token-file',
      tokenFile,
    ]);
    assert.equal(refused.code, 1, refused.stderr);
    const dry = await cellctl<{ dryRun: boolean; record: unknown }>([
      'start',
      'm-1',
      '--header',
      'x-customer-id',
      '--percent',
      '20',
      '--dry-run',
    ]);
    assert.deepEqual(dry.record, { cell: 'cell-1', state: 'active', epoch: 1, experiment: SPEC });
    assert.deepEqual(await marketRecord(), { cell: 'cell-1', state: 'active', epoch: 1 }, 'nothing written');
    await cellctl(['start', 'm-1', '--header', 'x-customer-id', '--percent', '20']);
    assert.deepEqual(await marketRecord(), { cell: 'cell-1', state: 'active', epoch: 1, experiment: SPEC });
    // Make-before-break (experiment-warmup.ts): no request fails while the experiment starts.
    for (const p of planes)
      assert.deepEqual(await untilColor(p.url, aVariantKey, 'green'), {}, `${p.name}: answers while the experiment started`);
    const seen = new Map<string, Map<string, Color[]>>();
    for (const p of planes) seen.set(p.name, await colorsByKey(p.url, KEYS, 2));
    let green = 0;
    for (const key of KEYS) {
      const want = expected.get(key)!;
      if (want === 'green') green++;
      for (const p of planes) {
        const got = seen.get(p.name)!.get(key)!;
        assert.deepEqual(got, [want, want], `${p.name}: customer ${key} answered by ${got.join(', ')}, expected ${want} each time`);
      }
    }
    const p = SPEC.percent / 100;
    const share = green / KEYS.length;
    // Four standard deviations of a binomial share over the distinct keys, plus a 0.2 point floor.
    const tolerance = 4 * Math.sqrt((p * (1 - p)) / KEYS.length) + 0.002;
    t.diagnostic(
      `green for ${green} of ${KEYS.length} customers (${(share * 100).toFixed(1)} %), tolerance ±${(tolerance * 100).toFixed(1)} points`,
    );
    assert.ok(Math.abs(share - p) <= tolerance, `green took ${(share * 100).toFixed(1)} % of the customers`);
    // Per-arm figures from each plane's own metrics: every keyed request counted on its arm, none failed.
    // Envoy computes its histograms at each stats flush (every 5 s), its counters at once: read
    // until every arm of both planes has a p99, at most 3 flushes.
    const readStats = async () =>
      (await cellctl<{ stats: ExperimentStats }>(['status', 'm-1', '--router', planes[0]!.url, '--envoy-admin', envoyAdmin])).stats;
    let stats = await readStats();
    for (const until = Date.now() + 15_000; Date.now() < until; stats = await readStats()) {
      if ([...stats.router, ...stats.envoy].every((arm) => arm.p99Ms !== null)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    t.diagnostic(`per-arm stats: ${JSON.stringify(stats)}`);
    assert.deepEqual(stats.unreachable, []);
    for (const plane of ['router', 'envoy'] as const) {
      const [variant, control] = stats[plane];
      // 2 rounds per key, plus the few probes of untilColor (keyed with a variant key).
      assert.ok(variant!.requests >= 2 * green && variant!.requests <= 2 * green + 250, `${plane} variant: ${variant!.requests}`);
      assert.equal(control!.requests, 2 * (KEYS.length - green), `${plane} control`);
      assert.equal(variant!.errors + control!.errors, 0, `${plane}: no errors`);
      assert.ok(variant!.p99Ms !== null && control!.p99Ms !== null, `${plane}: a p99 for each arm`);
    }
    for (const plane of planes) {
      for (let i = 0; i < 50; i++)
        assert.equal(await colorOf(plane.url, undefined), 'blue', `${plane.name}: a request without the key goes to the active color`);
    }

    await cellctl(['stop', 'm-1']);
    for (const plane of planes) {
      assert.deepEqual(await untilColor(plane.url, aVariantKey, 'blue'), {}, `${plane.name}: answers while the experiment ended`);
      const after = await colorsByKey(plane.url, KEYS, 1);
      const greens = [...after.values()].filter((c) => c[0] === 'green').length;
      t.diagnostic(`${plane.name} after the experiment ended: green ${greens} of ${KEYS.length}`);
      assert.equal(greens, 0, `${plane.name}: nothing to green once the experiment is removed`);
    }
  });
});
