/**
 * The cell-loss drill against its own real `cellctl up` topology (real Consul, cells, routers,
 * control plane, Envoys; vegeta load on both planes): a cell killed and its data directory
 * removed under load, recovered with `evacuate --from-backup`. It must pass, with its RPO,
 * recovery time and order counts in the report; the same drill recovering from a copy taken
 * before the load (--stale-backup) must fail "orders acknowledged before the recovery point
 * survive". Its own topology: the drill destroys a cell, which the shared drills.test topology
 * must not see.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readLossReport } from './drills/cell-loss.js';
import { findDrill } from './drills/index.js';
import type { DrillOptions } from './drills/types.js';
import { runDrill } from './engine.js';
import type { DrillEnv } from './env/types.js';
import { openUpEnv } from './env/up-env.js';
import { assertReportFiles } from './report/assert-report.test-helper.js';
import type { DrillReport } from './report/report.js';
import { renderSummary } from './report/summary.js';

describe('cell-loss drill against a real cellctl up topology', { timeout: 600_000 }, () => {
  let env: DrillEnv | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'cellsim-drill-cell-loss-'));
  const reportsDir = mkdtempSync(join(tmpdir(), 'cellsim-drill-cell-loss-reports-'));

  before(async () => {
    env = await openUpEnv({ dataDir, upArgs: ['--any-ports', '--cells', '3'], startTimeoutMs: 180_000 });
  });
  after(async () => {
    await env?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(reportsDir, { recursive: true, force: true });
  });

  async function drill(extra: Partial<DrillOptions>): Promise<DrillReport> {
    const d = findDrill('cell-loss');
    assert.ok(d && env);
    const opts: DrillOptions = { planes: ['router', 'envoy'], durationMs: 20_000, rate: 30, requestTimeoutMs: 5000, ...extra };
    const r = await runDrill(d, env, opts, { reportsDir });
    assertReportFiles(r);
    return r;
  }

  it('passes: every order acknowledged before the recovery point survives, none duplicated, no spill', async (t) => {
    const r = await drill({ cell: 'cell-1' });
    for (const line of renderSummary(r).split('\n')) t.diagnostic(line);
    assert.ok(r.pass, renderSummary(r));
    const loss = readLossReport(join(r.files.results, '..'));
    t.diagnostic(`RPO ${loss.rpoSeconds.toFixed(1)} s, recovery ${loss.recoveryMs} ms, orders ${JSON.stringify(loss.orders)}`);
    for (const plane of r.planes) {
      const c = loss.orders[plane]!;
      assert.ok(c.safe > 0, `${plane}: orders acknowledged before the recovery point to judge`);
      assert.equal(c.lostSafe + c.lostKept + c.duplicated, 0, JSON.stringify(c));
    }
    assert.deepEqual(
      Object.entries(await env!.owners()).filter(([, c]) => c === 'cell-1'),
      [],
      'no market left on the lost cell',
    );
  });

  it('--stale-backup (a copy from before the load) fails "orders acknowledged before the recovery point survive"', async (t) => {
    const r = await drill({ cell: 'cell-2', staleBackup: true });
    const failed = r.verdicts.filter((v) => !v.pass);
    for (const v of failed) t.diagnostic(`FAIL ${v.name}: ${v.measured}`);
    assert.equal(r.pass, false, renderSummary(r));
    for (const plane of r.planes) {
      const v = r.verdicts.find((x) => x.name === `orders acknowledged before the recovery point survive (${plane})`);
      assert.equal(v?.pass, false, `${plane}: ${v?.measured}`);
      assert.match(v.measured, /^[1-9]\d* of [1-9]\d* lost/);
    }
    assert.deepEqual(
      failed.filter((v) => !v.name.startsWith('orders acknowledged before the recovery point')).map((v) => `${v.name}: ${v.measured}`),
      [],
      'only the survival verdict fails',
    );
    assert.ok(
      r.events.some((e) => e.what.includes('--stale-backup')),
      'the timeline says what was sabotaged',
    );
  });
});
