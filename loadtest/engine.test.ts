import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EchoCell } from '../infra/harness/echo-cell.js';
import { findDrill } from './drills/index.js';
import { runDrill } from './engine.js';
import { startEchoEnv } from './env/echo-env.test-helper.js';
import type { DrillEnv } from './env/types.js';
import { assertReportFiles } from './report/assert-report.test-helper.js';
import { renderSummary } from './report/summary.js';

describe('drill engine with real vegeta against real HTTP echo cells (direct plane)', { timeout: 120_000 }, () => {
  let env: DrillEnv & { echo: EchoCell[] };
  const reportsDir = mkdtempSync(join(tmpdir(), 'cellsim-reports-'));
  before(async () => {
    env = await startEchoEnv(3, 4);
  });
  after(async () => {
    await env.close();
  });

  it('cell-errors in one cell passes: failures stay in that cell, report files written', async () => {
    const drill = findDrill('cell-errors')!;
    const r = await runDrill(drill, env, { planes: ['direct'], durationMs: 7000, rate: 40, cell: 'cell-1' }, { reportsDir });
    assert.ok(r.pass, renderSummary(r));
    assert.equal(r.analysis.spill.failed, 0);
    const during = r.analysis.perCell['cell-1']!.during;
    // Phases go by request start: a request started just before a phase boundary may be answered
    // after it (the machine is shared), so allow a few at the edges.
    assert.ok(
      during.failed > 0 && during.failed >= 0.9 * during.requests,
      `cell-1 failed ${during.failed}/${during.requests} in the window`,
    );
    assert.equal(during.codes.internal, during.failed);
    assert.ok(r.analysis.perCell['cell-1']!.before.failed <= 3, 'no failures before the fault, but for requests crossing its start');
    assert.equal(r.analysis.perCell['cell-0']!.during.failed, 0);
    // Uneven weights: cell-0 owns the biggest markets.
    assert.ok(r.plannedShares['cell-0']! > r.plannedShares['cell-2']!);
    assert.equal(r.verdicts.find((v) => v.name === 'failed share (outside the faulted cells)')?.pass, true);
    assert.match(r.verdicts.find((v) => v.name === 'fault observed (direct)')?.measured ?? '', /failed/);
    assert.match(r.verdicts.find((v) => v.name === 'wrong-cell answers (direct)')?.measured ?? '', /^0 of \d+ 2xx answers$/);
    assert.equal(r.vegeta.exitCode, 0);
    // The model's read-back of every created order: reads follow creates.
    const ops = r.analysis.total.requests;
    assert.ok(ops >= 0.8 * 40 * 7 * 0.9, `about the asked rate was sent (${ops} requests in 7 s at 40/s)`);
    assertReportFiles(r);
    assert.ok(existsSync(r.files.results));
  });

  it('the same fault injected into every cell FAILS: the drill catches a real spill', async () => {
    const drill = findDrill('cell-errors')!;
    const r = await runDrill(
      drill,
      env,
      { planes: ['direct'], durationMs: 5000, rate: 40, cell: 'cell-1', faultEveryCell: true },
      { reportsDir },
    );
    assert.equal(r.pass, false);
    assert.ok(r.analysis.spill.failed > 0);
    assert.equal(r.verdicts.find((v) => v.name.startsWith('spill'))?.pass, false);
    assert.equal(r.verdicts.find((v) => v.name === 'blast radius')?.pass, false);
    assert.equal(r.verdicts.find((v) => v.name === 'failed share (outside the faulted cells)')?.pass, false, 'the gate fails too');
    assertReportFiles(r);
  });

  it('the same drill with the fault never started FAILS on "fault observed" alone (the positive control)', async (t) => {
    const drill = findDrill('cell-errors')!;
    const r = await runDrill(
      drill,
      env,
      { planes: ['direct'], durationMs: 5000, rate: 40, cell: 'cell-1', faultNeverStarts: true },
      { reportsDir },
    );
    for (const line of renderSummary(r)
      .split('\n')
      .filter((l) => l.startsWith('  FAIL')))
      t.diagnostic(line);
    assert.equal(r.pass, false, renderSummary(r));
    assert.deepEqual(
      r.verdicts.filter((v) => !v.pass).map((v) => v.name),
      ['fault observed (direct)'],
      renderSummary(r),
    );
    assert.match(r.verdicts.find((v) => v.name === 'fault observed (direct)')!.measured, /^0\.00% failed/);
    assert.ok(
      r.events.some((e) => /NOT injected into cell-1/.test(e.what)),
      'the timeline says the fault was skipped',
    );
    assertReportFiles(r);
  });

  it('a cell answering for markets it does not own FAILS the drill as wrong-cell answers, counted per cell and plane', async (t) => {
    const drill = findDrill('cell-errors')!;
    // cell-2 answers its own markets naming cell-0: a mis-routed success.
    env.echo[2]!.setCellId('cell-0');
    t.after(() => env.echo[2]!.setCellId('cell-2'));
    const r = await runDrill(drill, env, { planes: ['direct'], durationMs: 5000, rate: 40, cell: 'cell-1' }, { reportsDir });
    for (const line of renderSummary(r)
      .split('\n')
      .filter((l) => l.startsWith('  FAIL')))
      t.diagnostic(line);
    assert.equal(r.pass, false, renderSummary(r));
    const v = r.verdicts.find((x) => x.name === 'wrong-cell answers (direct)');
    assert.equal(v?.pass, false);
    assert.match(v.measured, /\(cell-2: \d+\)/);
    const w = r.analysis.wrongCell;
    assert.ok(w.count > 0 && w.byCell['cell-2']?.direct === w.count && w.byPlane.direct === w.count, JSON.stringify(w));
    assert.equal(w.examples[0]?.answered, 'cell-0');
    assert.ok(r.analysis.spill.byCode.wrong_cell! > 0, 'a wrong-cell answer is a failure: spill outside the faulted cell');
    assert.match(renderSummary(r), new RegExp(`wrong-cell answers ${w.count} \\(direct ${w.count}\\)`));
    assertReportFiles(r);
    assert.match(readFileSync(r.files.html, 'utf8'), /<h2>Wrong-cell answers<\/h2>/);
  });

  it('refuses a sabotage switch the drill does not apply, before any traffic', async () => {
    await assert.rejects(
      runDrill(findDrill('consul-outage')!, env, { planes: ['direct'], durationMs: 2000, rate: 20, faultEveryCell: true }, { reportsDir }),
      /--fault-every-cell does not apply to drill consul-outage \(it takes --fault-never-starts\)/,
    );
    await assert.rejects(
      runDrill(findDrill('bad-rollout')!, env, { planes: ['direct'], durationMs: 2000, rate: 20, faultEveryCell: true }, { reportsDir }),
      /--fault-every-cell does not apply to drill bad-rollout \(it takes --fault-never-starts\)/,
    );
  });

  it('a load generator that does not run FAILS the drill (vegeta ran, traffic sent)', async () => {
    const drill = findDrill('cell-errors')!;
    const saved = process.env.VEGETA_BIN;
    process.env.VEGETA_BIN = '/bin/false';
    try {
      const r = await runDrill(drill, env, { planes: ['direct'], durationMs: 2000, rate: 20, cell: 'cell-1' }, { reportsDir });
      assert.equal(r.pass, false);
      assert.equal(r.verdicts.find((v) => v.name === 'vegeta ran')?.pass, false);
      assert.equal(r.verdicts.find((v) => v.name === 'traffic sent')?.pass, false);
      assert.equal(r.verdicts.find((v) => v.name.startsWith('failed share'))?.pass, false, 'a gate over no request does not pass');
    } finally {
      if (saved === undefined) delete process.env.VEGETA_BIN;
      else process.env.VEGETA_BIN = saved;
    }
  });
});
