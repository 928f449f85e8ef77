/**
 * The kafka-broker-down and delivery-down drills against their own real `cellctl up --log kafka`
 * topology (real Consul, cells split into order and delivery services, routers, control plane,
 * Envoys, and a real KRaft broker per cell; vegeta load on both planes). kafka-broker-down:
 * cell-1's broker killed and held down under load, then started again. It must
 * pass (orders accepted while it is down, no spill, every acknowledged order DELIVERED after,
 * none lost); with --fault-never-ends (the broker not started again before the order check) it
 * must fail "acknowledged orders DELIVERED after the broker is back", and only that. A real
 * `--log sqlite` topology (no brokers) is refused in preflight, before any traffic or report.
 * delivery-down (short: 20 s at 8/s): both delivery processes of cell-1 killed and held down; it
 * must pass (orders accepted, backlog drained, all DELIVERED, none lost), and with
 * --fault-never-ends fail the backlog and delivery verdicts, and only those.
 * Topologies of its own: the drills.test topology runs no broker.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { requireKafka } from '../infra/kafka-dist.js';
import { findDrill } from './drills/index.js';
import type { CatchUpCount } from './drills/kafka-catch-up.js';
import type { DrillOptions } from './drills/types.js';
import { runDrill } from './engine.js';
import type { DrillEnv } from './env/types.js';
import { openUpEnv } from './env/up-env.js';
import { assertReportFiles } from './report/assert-report.test-helper.js';
import type { DrillReport } from './report/report.js';
import { renderSummary } from './report/summary.js';

const DELIVERED = 'acknowledged orders DELIVERED after the broker is back';
// The sabotaged runs hold the fault past the order check, so no bound passes them: a 10 s bound
// (--catch-up 10s) fails them as surely as the default 60 s one, 50 s sooner each.
const SABOTAGE_CATCH_UP_MS = 10_000;

describe('kafka-broker-down drill against a real cellctl up --log kafka topology', { timeout: 900_000 }, () => {
  let env: DrillEnv | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'cellsim-drill-kafka-'));
  const reportsDir = mkdtempSync(join(tmpdir(), 'cellsim-drill-kafka-reports-'));

  before(async () => {
    requireKafka(); // no jars or no Java: fail here, loudly
    env = await openUpEnv({ dataDir, upArgs: ['--any-ports', '--cells', '2', '--log', 'kafka'], startTimeoutMs: 300_000 });
  });
  after(async () => {
    await env?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(reportsDir, { recursive: true, force: true });
  });

  async function drill(extra: Partial<DrillOptions>, name = 'kafka-broker-down'): Promise<DrillReport> {
    const d = findDrill(name);
    assert.ok(d && env);
    // No cancels: a cancelled order is not judged, so every create counts.
    const opts: DrillOptions = {
      planes: ['router', 'envoy'],
      durationMs: 30_000,
      rate: 12,
      requestTimeoutMs: 10_000,
      cell: 'cell-1',
      mix: { create: 60, get: 25, list: 15, cancel: 0 },
      ...extra,
    };
    const r = await runDrill(d, env, opts, { reportsDir });
    assertReportFiles(r);
    return r;
  }
  const counts = (r: DrillReport) =>
    (JSON.parse(readFileSync(join(r.files.results, '..', 'kafka-broker-down.json'), 'utf8')) as { count: CatchUpCount }).count;

  it('passes: orders accepted while the broker is down, no spill, all DELIVERED after, none lost', async (t) => {
    const r = await drill({});
    for (const line of renderSummary(r).split('\n')) t.diagnostic(line);
    assert.ok(r.pass, renderSummary(r));
    const c = counts(r);
    t.diagnostic(`orders ${JSON.stringify(c)}`);
    assert.ok(c.duringOutage > 0, 'orders acknowledged while the broker was down');
    assert.equal(c.lost + c.late, 0);
    assert.equal(c.delivered, c.acknowledged - c.cancelled);
    for (const plane of r.planes) {
      assert.equal(r.verdicts.find((v) => v.name === `orders accepted in cell-1 while its broker was down (${plane})`)?.pass, true);
    }
    assert.equal(r.verdicts.find((v) => v.name === 'fault observed (kafka.cell-1 down)')?.pass, true);
  });

  it('delivery-down passes: orders accepted while delivery is down, backlog drained, all DELIVERED, none lost', async (t) => {
    const r = await drill({ durationMs: 20_000, rate: 8 }, 'delivery-down');
    for (const line of renderSummary(r).split('\n')) t.diagnostic(line);
    assert.ok(r.pass, renderSummary(r));
    const out = JSON.parse(readFileSync(join(r.files.results, '..', 'delivery-down.json'), 'utf8')) as {
      count: CatchUpCount;
      backlog: { atHeal: number };
    };
    t.diagnostic(`orders ${JSON.stringify(out.count)} backlog ${JSON.stringify(out.backlog)}`);
    assert.ok(out.count.duringOutage > 0 && out.backlog.atHeal > 0);
    assert.equal(out.count.lost + out.count.late, 0);
    for (const plane of r.planes)
      assert.equal(
        r.verdicts.find((v) => v.name === `orders accepted in cell-1 while its delivery service was down (${plane})`)?.pass,
        true,
      );
    for (const n of [1, 2]) assert.equal(r.verdicts.find((v) => v.name === `fault observed (cell-1.delivery-${n} down)`)?.pass, true);
  });

  it('delivery-down --fault-never-ends (delivery not restarted) fails the backlog and delivery verdicts, and only them', async (t) => {
    const r = await drill({ durationMs: 20_000, rate: 8, faultNeverEnds: true, catchUpMs: SABOTAGE_CATCH_UP_MS }, 'delivery-down');
    const failed = r.verdicts.filter((v) => !v.pass);
    for (const v of failed) t.diagnostic(`FAIL ${v.name}: ${v.measured}`);
    assert.equal(r.pass, false, renderSummary(r));
    assert.deepEqual(
      failed.map((v) => v.name),
      ['delivery backlog of cell-1 drained after the window', 'acknowledged orders DELIVERED after the delivery service is back'],
    );
    assert.ok(r.events.some((e) => e.what.includes('restarted after the order check')));
  });

  it('--fault-never-ends (the broker not restarted) fails the delivery verdict, and only it', async (t) => {
    const r = await drill({ durationMs: 20_000, faultNeverEnds: true, catchUpMs: SABOTAGE_CATCH_UP_MS });
    const failed = r.verdicts.filter((v) => !v.pass);
    for (const v of failed) t.diagnostic(`FAIL ${v.name}: ${v.measured}`);
    assert.equal(r.pass, false, renderSummary(r));
    assert.deepEqual(
      failed.map((v) => v.name),
      [DELIVERED],
    );
    assert.ok(counts(r).late > 0);
    assert.ok(r.events.some((e) => e.what.includes('--fault-never-ends')));
    assert.ok(r.events.some((e) => e.what.includes('restarted after the order check')));
  });
});

describe('kafka-broker-down refuses a cellctl up --log sqlite topology', { timeout: 600_000 }, () => {
  let env: DrillEnv | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'cellsim-drill-kafka-sqlite-'));
  const reportsDir = mkdtempSync(join(tmpdir(), 'cellsim-drill-kafka-sqlite-reports-'));

  before(async () => {
    env = await openUpEnv({ dataDir, upArgs: ['--any-ports', '--cells', '2'], startTimeoutMs: 300_000 });
  });
  after(async () => {
    await env?.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(reportsDir, { recursive: true, force: true });
  });

  it('in preflight, saying why, before any traffic or report', async () => {
    const d = findDrill('kafka-broker-down');
    assert.ok(d && env);
    assert.equal(env.kafkaBroker?.('cell-1'), undefined, 'a --log sqlite topology lists no broker');
    await assert.rejects(
      runDrill(d, env, { planes: ['router', 'envoy'], durationMs: 10_000, rate: 5, cell: 'cell-1' }, { reportsDir }),
      /kafka-broker-down needs a topology started with cellctl up --log kafka: cell-1 runs no Kafka broker/,
    );
    assert.deepEqual(readdirSync(reportsDir), [], 'no report written');
  });
});
