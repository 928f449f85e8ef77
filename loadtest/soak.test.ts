/**
 * The soak in a short CI mode against its own real `cellctl up` topology (real Consul, cells,
 * routers, control plane and Envoys, real vegeta): half a minute at 30 requests/s with markets
 * moving and a cell crashing, every verdict asserted and every soak verdict required to be there.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findDrill } from './drills/index.js';
import { runDrill } from './engine.js';
import type { DrillEnv } from './env/types.js';
import { openUpEnv } from './env/up-env.js';
import { assertReportFiles } from './report/assert-report.test-helper.js';
import { renderSummary } from './report/summary.js';
import { assertSoakPlayed } from './soak/assert-soak.test-helper.js';

describe('soak against a real cellctl up topology (short CI mode)', { timeout: 600_000 }, () => {
  let env: DrillEnv | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'cellsim-soak-topology-'));
  const reportsDir = mkdtempSync(join(tmpdir(), 'cellsim-soak-reports-'));

  before(async () => {
    env = await openUpEnv({ dataDir, upArgs: ['--any-ports', '--cells', '3'] /* openUpEnv adds --persist */, startTimeoutMs: 180_000 });
  });
  after(async () => {
    await env?.close();
  });

  it('36 s at 30/s with five moves and two crashes: spill 0, wrong-cell 0, flat RSS, no order lost or duplicated', async (t) => {
    const soak = findDrill('soak');
    assert.ok(soak, 'soak is registered');
    assert.ok(env, 'topology started');
    assert.equal(env.targets(['router']).length, 2, 'two routers to judge');
    const r = await runDrill(
      soak,
      env,
      { planes: ['router', 'envoy'], durationMs: 36_000, rate: 30, requestTimeoutMs: 5000 },
      { reportsDir },
    );
    assertReportFiles(r);
    for (const v of r.verdicts) t.diagnostic(`${v.pass ? 'PASS' : 'FAIL'} ${v.name}: ${v.measured}`);

    assertSoakPlayed(
      r,
      env.targets(['router']).map((t) => t.replica),
    );
    assert.ok(r.pass, renderSummary(r));
  });

  it('with --fault-never-starts (no move, no crash) fails what the soak must show: the crashes bit, moves and crashes played', async () => {
    const soak = findDrill('soak')!;
    assert.ok(env, 'topology started');
    const r = await runDrill(
      soak,
      env,
      { planes: ['router', 'envoy'], durationMs: 20_000, rate: 30, requestTimeoutMs: 5000, faultNeverStarts: true },
      { reportsDir },
    );
    const failed = r.verdicts.filter((v) => !v.pass).map((v) => v.name);
    assert.equal(r.pass, false, renderSummary(r));
    for (const re of [/^fault observed/, /^markets moved /, /^cell-1 crashed and back /, /^cell-1 serves again after each crash /])
      assert.ok(
        failed.some((n) => re.test(n)),
        `${re} should fail: failed ${failed.join(' | ')}`,
      );
    // Nothing else: no spill, no wrong cell, no order lost, RSS judged.
    for (const re of [/^spill /, /^wrong-cell answers/, /^orders lost /, /^orders duplicated /])
      assert.ok(!failed.some((n) => re.test(n)), `${re} should pass: failed ${failed.join(' | ')}`);
  });
});
