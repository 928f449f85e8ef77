/**
 * A stepped rollout of a bad version on a real topology (`cellctl up --any-ports`: real Consul,
 * cells, two routers, the control plane, two Envoys): `cellctl rollout v2-bad --steps 1,10,50`
 * under load on the canary's markets through both planes. The bad green must be caught at a step
 * below 100 % and rolled back (its shift removed), no other cell may ever run it, and the failed
 * share of the canary's requests stays within what that step's share of v2-bad's 20 % failed
 * creates allows (docs/weighted-shifts.md).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ManagedProcess } from '../infra/process.js';
import { cellctlJson, runCellctl, startUp } from '../infra/harness/up.js';
import { startLoad } from './load.js';

interface Topo {
  supervisor: { url: string };
  routers: { url: string }[];
  envoys: { url: string }[];
}
interface Rollout {
  state: string;
  report?: string;
  rollbackMs?: number;
  waves: { state: string; steps?: { percent: number; verdict?: { pass: boolean; reason: string; requests: number } }[] }[];
}

describe('a stepped rollout of a bad version on a real topology (cellctl up)', () => {
  let data: string;
  let up: ManagedProcess;
  let topo: Topo;

  before(async () => {
    data = mkdtempSync(join(tmpdir(), 'cellsim-rollout-steps-'));
    up = await startUp({ data });
    topo = JSON.parse(readFileSync(join(data, 'topology.json'), 'utf8')) as Topo;
  });
  after(async () => {
    await up?.stop(30_000);
    if (data) rmSync(data, { recursive: true, force: true });
  });

  it('catches v2-bad at a weighted step and rolls it back: the damage bounded by that share, no other cell touched', async () => {
    const token = readFileSync(join(data, 'tokens', 'supervisor'), 'utf8').trim();
    const seen = new Set<string>();
    let watching = true;
    // A poll the loaded machine drops (a refused or reset connection) is counted, not fatal: the
    // watcher must still have read the children most of the time (asserted below).
    const polls = { ok: 0, failed: [] as string[] };
    const watcher = (async () => {
      while (watching) {
        try {
          const res = await fetch(`${topo.supervisor.url}/children`, { headers: { authorization: `Bearer ${token}` } });
          for (const c of (await res.json()) as { cell?: string; version?: string }[])
            if (c.cell && c.version === 'v2-bad') seen.add(c.cell);
          polls.ok++;
        } catch (err) {
          polls.failed.push(`${(err as Error).message}: ${String((err as { cause?: unknown }).cause)}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const canary = (await cellctlJson<{ market: string; cell: string }[]>(data, ['markets'])).filter((m) => m.cell === 'cell-0');
    assert.ok(canary.length > 0, 'cell-0 owns markets');
    const planes = [...topo.routers.map((r) => r.url), ...topo.envoys.map((e) => e.url)];
    const load = startLoad({ targets: planes, markets: canary.map((m) => m.market), rps: 80, maxMs: 120_000, retries: 0 });
    await new Promise((r) => setTimeout(r, 1500));
    const rolloutAt = Date.now();
    const r = await runCellctl(data, ['rollout', 'v2-bad', '--steps', '1,10,50', '--bake', '8s', '--json']);
    const rolloutEnd = Date.now();
    await new Promise((res) => setTimeout(res, 1000));
    const results = await load.stop();
    watching = false;
    await watcher;

    assert.notEqual(r.code, 0, 'a rolled-back rollout exits non-zero');
    const rec = JSON.parse(r.stdout) as Rollout;
    const steps = rec.waves[0]?.steps ?? [];
    const breached = steps.find((s) => s.verdict && !s.verdict.pass);
    process.stdout.write(
      `# stepped bad rollout: ${rec.report}; steps ${JSON.stringify(steps.map((s) => [s.percent, s.verdict?.pass, s.verdict?.requests]))}\n`,
    );
    assert.equal(rec.state, 'rolled-back', rec.report);
    assert.ok(breached, `caught at a weighted step, not after the full switch: ${JSON.stringify(rec.waves[0])}`);
    assert.match(rec.report ?? '', new RegExp(`at ${breached.percent}% of its traffic`));
    assert.ok(
      polls.ok >= 20 && polls.failed.length <= polls.ok / 10,
      `the supervisor's children read ${polls.ok} times, ${polls.failed.length} polls failed: ${polls.failed.slice(0, 3).join('; ')}`,
    );
    assert.deepEqual([...seen], ['cell-0'], 'only cell-0 ever ran v2-bad');
    const cells = await cellctlJson<{ id: string; version: string }[]>(data, ['cells']);
    assert.ok(
      cells.every((c) => c.version === 'v1'),
      JSON.stringify(cells),
    );
    const shifted = (await cellctlJson<{ id: string; shift?: unknown }[]>(data, ['cells'])).filter((c) => c.shift !== undefined);
    assert.deepEqual(shifted, [], 'no cell record keeps a shift');

    const faulted = results.filter((x) => /defect of this version/.test(x.error ?? ''));
    const share = faulted.length / results.length;
    // v2-bad fails 20 % of creates: at most the breached step's share of them, plus a point of
    // slack. Before shiftWeights left a cell with no passing instance of its active color without
    // any endpoint, green took the whole cell for a moment while blue flapped beside the starting
    // green (3 runs of 4: 40-81 requests at the 1 % step where ~6 were due; docs/weighted-shifts.md).
    const bound = 0.2 * (breached.percent / 100) + 0.01;
    process.stdout.write(
      `# ${faulted.length} of ${results.length} requests to the canary's markets hit v2-bad (${(share * 100).toFixed(2)}%, bound ${(bound * 100).toFixed(1)}%); rolled back ${rec.rollbackMs} ms after the breach\n`,
    );
    const byTarget = (xs: typeof results) => Object.fromEntries(planes.map((t) => [t, xs.filter((x) => x.target === t).length]));
    process.stdout.write(
      `# per data-plane replica: faulted ${JSON.stringify(byTarget(faulted))} of ${JSON.stringify(byTarget(results))}\n`,
    );
    const at = (t: number) => ((t - rolloutAt) / 1000).toFixed(1);
    process.stdout.write(
      `# rollout command 0 to ${at(rolloutEnd)} s; v2-bad answered requests sent at (s): ${faulted.map((x) => at(x.sentAt)).join(' ')}\n`,
    );
    assert.ok(faulted.length > 0, 'the defect showed (the bad green got traffic)');
    assert.ok(share <= bound, `${(share * 100).toFixed(2)}% of requests failed, above ${(bound * 100).toFixed(1)}%`);
  });
});
