/**
 * Every drill in a short CI mode against one real `cellctl up` topology (real Consul, cells,
 * routers, control plane and Envoys), its verdict asserted and its report files parsed; and
 * sabotaged runs (the fault in every cell, the fault never started, a router answering every
 * market from one cell, a router with its hang isolation off), which must fail.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findDrill } from './drills/index.js';
import type { DrillOptions } from './drills/types.js';
import { runDrill } from './engine.js';
import type { DrillEnv } from './env/types.js';
import { openUpEnv } from './env/up-env.js';
import { assertReportFiles } from './report/assert-report.test-helper.js';
import type { DrillReport } from './report/report.js';
import { renderSummary } from './report/summary.js';

/**
 * Drills that currently FAIL because of a finding in another part, with the finding. They still
 * run and print their summary (node:test `todo`); delete the entry once the part is fixed.
 */
const KNOWN: Record<string, string> = {};

const CELLCTL = fileURLToPath(new URL('../bin/cellctl.js', import.meta.url));

/** Short CI runs: seconds, low rate; longer where the lever itself takes time. */
const CI: Record<string, Partial<DrillOptions>> = {
  'cell-crash': { durationMs: 14_000 },
  'migration-under-load': { durationMs: 16_000 },
  // v2-bad fails 20% of creates only: at 30/s the canary's bake sees about 20 creates, few enough
  // that a canary wave can pass on a single failure (seen once) and let v2-bad reach other cells.
  // At 60/s a CI run still saw it pass: 3 failed creates were 1.2 % of the bake's requests, under
  // the +2 points of the rate of all routes; the verdict now also judges each route (slo.ts), and
  // 100/s gives it more creates.
  'bad-rollout': { durationMs: 20_000, rate: 100 },
  // Time to isolate is read from 250 ms bins of the faulted cell's requests per plane: at 30/s
  // the hung cell gets ~2.5 requests/s per router replica, so the first request after the fault
  // can come 400 ms in and a bin can be empty — the figure moves by whole bins. 60/s resolves
  // the 1 s target.
  'cell-hang': { rate: 60 },
  // "fault observed" wants a p99 of 100 ms or more: a write must land in the first half of a
  // 200 ms slow-down. At 30/s the faulted cell sees ~10 writes per plane in the window, and all of
  // them missing it is a few percent likely; 60/s doubles them.
  'cell-slow-db': { rate: 60 },
};

describe('drills against a real cellctl up topology (short CI mode)', { timeout: 600_000 }, () => {
  let env: DrillEnv | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'cellsim-drill-topology-'));
  const reportsDir = mkdtempSync(join(tmpdir(), 'cellsim-drill-reports-'));

  before(async () => {
    env = await openUpEnv({ dataDir, upArgs: ['--any-ports', '--cells', '3'] /* openUpEnv adds --persist */, startTimeoutMs: 180_000 });
  });
  after(async () => {
    await env?.close();
  });

  async function drill(name: string, extra: Partial<DrillOptions> = {}): Promise<DrillReport> {
    const d = findDrill(name);
    assert.ok(d, name);
    assert.ok(env, 'topology started');
    const opts: DrillOptions = {
      planes: d.defaultPlanes ?? ['router', 'envoy'],
      durationMs: 10_000,
      rate: 30,
      requestTimeoutMs: 5000,
      ...CI[name],
      ...extra,
    };
    const r = await runDrill(d, env, opts, { reportsDir });
    assertReportFiles(r);
    return r;
  }

  for (const name of [
    'cell-errors',
    'cell-latency',
    'cell-slow-db',
    'cell-hang',
    'cell-crash',
    'router-replica-kill',
    'envoy-replica-kill',
    'control-plane-outage',
    'consul-outage',
    'migration-under-load',
    'bad-rollout',
    'external-kill',
  ]) {
    it(`${name} passes its verdicts`, { todo: KNOWN[name] }, async (t) => {
      const r = await drill(name);
      // The figures of every run land in the CI log, passing or not.
      for (const line of renderSummary(r).split('\n').slice(0, 3)) t.diagnostic(line);
      assert.ok(r.pass, renderSummary(r));
    });
  }

  it('cell-errors injected into every cell fails its verdict (the drill catches a real spill)', async () => {
    const r = await drill('cell-errors', { faultEveryCell: true });
    assert.equal(r.pass, false, renderSummary(r));
    assert.ok(r.analysis.spill.failed > 0);
    assert.equal(r.verdicts.find((v) => v.name.startsWith('spill'))?.pass, false);
  });

  it('cell-errors with the fault never started fails "fault observed" on each plane (the positive control)', async (t) => {
    const r = await drill('cell-errors', { faultNeverStarts: true });
    for (const line of renderSummary(r)
      .split('\n')
      .filter((l) => l.includes('fault observed')))
      t.diagnostic(line);
    assert.equal(r.pass, false, renderSummary(r));
    const observed = r.verdicts.filter((v) => v.name.startsWith('fault observed'));
    assert.deepEqual(
      observed.map((v) => [v.name, v.pass]),
      r.planes.map((p) => [`fault observed (${p})`, false]),
      renderSummary(r),
    );
  });

  /**
   * One never-started run per other drill kind: it must fail on its positive control, for the
   * reason the sabotage gives (`why`), and on nothing but the verdicts the missing fault takes
   * down with it (`alsoFail`: a migration or kill that never ran cannot report its outcome).
   */
  const NEVER_STARTS: { name: string; control: RegExp; why: RegExp; alsoFail?: RegExp[] }[] = [
    // A replica kill (envoy-replica-kill is the same code on the other plane).
    { name: 'router-replica-kill', control: /^fault observed \(router-\d+ down\)$/, why: /^0 of \d+ probes unanswered/ },
    // An outage (control-plane-outage is the same code on another component).
    { name: 'consul-outage', control: /^fault observed \(consul down\)$/, why: /^0 of \d+ probes unanswered/ },
    {
      name: 'migration-under-load',
      control: /^fault observed \((router|envoy)\)$/,
      why: /no data \(no market moved in Consul\)/,
      alsoFail: [/^migrate /],
    },
    {
      name: 'bad-rollout',
      control: /^fault observed \(router\+envoy\)$/,
      why: /^0\.00% failed \(0 of [1-9]\d*\)/,
      alsoFail: [/^rollout stopped and rolled back$/],
    },
    {
      name: 'external-kill',
      control: /^fault observed \(router\+envoy\)$/,
      why: /^0\.00% failed \(0 of [1-9]\d*\)/,
      alsoFail: [/ back after SIGKILL of its listed pid$/, /^nothing orphaned/],
    },
  ];
  for (const { name, control, why, alsoFail = [] } of NEVER_STARTS) {
    it(`${name} with the fault never started fails its "fault observed" (the positive control)`, async (t) => {
      const r = await drill(name, { faultNeverStarts: true, durationMs: 10_000, rate: 30 });
      const failed = r.verdicts.filter((v) => !v.pass);
      for (const v of failed) t.diagnostic(`FAIL ${v.name}: ${v.measured}`);
      assert.equal(r.pass, false, renderSummary(r));
      const controls = r.verdicts.filter((v) => control.test(v.name));
      assert.ok(controls.length > 0, `no verdict named ${String(control)}: ${renderSummary(r)}`);
      for (const v of controls) {
        assert.equal(v.pass, false, `${v.name} passed with nothing injected: ${v.measured}`);
        assert.match(v.measured, why, v.name);
      }
      const unexpected = failed.filter((v) => !control.test(v.name) && !alsoFail.some((re) => re.test(v.name)));
      assert.deepEqual(
        unexpected.map((v) => `${v.name}: ${v.measured}`),
        [],
        'only the positive control (and what the missing fault takes with it) fails',
      );
      assert.ok(
        r.events.some((e) => e.what.includes('--fault-never-starts')),
        'the timeline says what was not injected',
      );
    });
  }

  it('cell-errors through a router that answers every market from one cell fails "wrong-cell answers" on that plane only', async (t) => {
    const r = await drill('cell-errors', { routerOneCell: true });
    for (const line of renderSummary(r)
      .split('\n')
      .filter((l) => l.includes('wrong-cell')))
      t.diagnostic(line);
    assert.equal(r.pass, false, renderSummary(r));
    const wrong = r.verdicts.filter((v) => v.name.startsWith('wrong-cell answers'));
    assert.deepEqual(
      wrong.map((v) => [v.name, v.pass]),
      [
        ['wrong-cell answers (router)', false],
        ['wrong-cell answers (envoy)', true],
      ],
      renderSummary(r),
    );
    assert.ok(
      r.events.some((e) => e.what.includes('drill-sabotage-router')),
      'the timeline names the sabotaged router',
    );
  });

  it('cell-hang through a router with its hang isolation off fails "time to isolate (router)"', async (t) => {
    const r = await drill('cell-hang', { routerIsolationOff: true });
    for (const line of renderSummary(r)
      .split('\n')
      .filter((l) => l.includes('time to isolate')))
      t.diagnostic(line);
    assert.equal(r.pass, false, renderSummary(r));
    // Envoy's own figure is the plain cell-hang test's to judge; this run is about the router's.
    const router = r.verdicts.find((v) => v.name === 'time to isolate (router)');
    assert.equal(router?.pass, false, renderSummary(r));
    // Without stall detection the cell is cut off late or never: a CI run here saw 3250 ms, when
    // the upstream timeouts at last opened the breaker. Either way a measured figure, not "no data".
    assert.match(router.measured, /^(never|\d+ ms)$/, 'the hung cell is cut off late or never (data there, not "no data")');
  });

  it('cellctl drill --json prints exactly one JSON document on stdout, progress on stderr', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [CELLCTL, 'drill', 'cell-errors', '--data', dataDir, '--reports', reportsDir, '--duration', '6s', '--rate', '20', '--json'],
        { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
        (err, out, errOut) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout: out, stderr: errOut }),
      );
    });
    const report = JSON.parse(stdout) as DrillReport;
    assert.equal(report.drill, 'cell-errors');
    assert.equal(code, report.pass ? 0 : 1, 'the exit code follows the verdict');
    assert.match(stderr, /vegeta started/, 'progress goes to stderr');
  });
});
