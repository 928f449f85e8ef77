import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CellHealth, DrillEnv } from '../env/types.js';
import { settleCells, waitPassing } from './settle.js';

/** An env whose Consul answers `views` in turn (the last one again and again); a thrown Error is a failed read. */
function envOf(views: (Record<string, CellHealth> | Error)[], cells = ['cell-0', 'cell-1']): DrillEnv & { reads: number } {
  const env = {
    reads: 0,
    cells: () => cells,
    async cellHealth() {
      const v = views[Math.min(env.reads++, views.length - 1)]!;
      if (v instanceof Error) throw v;
      return v;
    },
  };
  return env as unknown as DrillEnv & { reads: number };
}

const ok: CellHealth = { passing: true, failing: [] };
const dead: CellHealth = { passing: false, failing: ['cell-1 serfHealth critical: Agent not live or unreachable'] };

describe('settle: every cell passing its Consul checks before a drill that moves a market', () => {
  it('resolves at once, after one read, when every cell passes', async () => {
    const env = envOf([{ 'cell-0': ok, 'cell-1': ok }]);
    const ms = await settleCells(env, 5000, 10);
    assert.equal(env.reads, 1);
    assert.ok(ms < 500, `${ms} ms`);
  });

  it('waits while a cell is declared dead, and resolves once it passes again', async () => {
    const env = envOf([
      { 'cell-0': ok, 'cell-1': dead },
      new Error('connect ECONNREFUSED'),
      { 'cell-0': ok, 'cell-1': dead },
      { 'cell-0': ok, 'cell-1': ok },
    ]);
    await settleCells(env, 5000, 10);
    assert.equal(env.reads, 4);
  });

  it('refuses after its bound, naming each cell that does not pass and its failing checks', async () => {
    const env = envOf([{ 'cell-0': ok, 'cell-1': dead }], ['cell-0', 'cell-1', 'cell-2']);
    await assert.rejects(
      settleCells(env, 200, 20),
      (err: Error) =>
        /not every cell passes its Consul checks after 0 s/.test(err.message) &&
        err.message.includes('cell-1 (cell-1 serfHealth critical: Agent not live or unreachable)') &&
        err.message.includes('cell-2 (no instance registered in Consul)') &&
        !err.message.includes('cell-0 ('),
    );
  });

  it('tells when each cell first passed, and says why a cell could not be read', async () => {
    const w = await waitPassing(envOf([{ 'cell-0': ok }, { 'cell-0': ok, 'cell-1': ok }]), ['cell-0', 'cell-1'], 5000, 30);
    assert.ok((w.passedAfter['cell-0'] ?? 99) < 30, 'cell-0 at the first read');
    assert.ok((w.passedAfter['cell-1'] ?? 0) >= 30);
    assert.deepEqual(w.notPassing, {});
    const unread = await waitPassing(envOf([new Error('connect ECONNREFUSED 10.77.5.20:8500')]), ['cell-1'], 50, 10);
    assert.deepEqual(unread.notPassing, { 'cell-1': 'Consul not read: connect ECONNREFUSED 10.77.5.20:8500' });
  });

  it('waits for nothing on a topology that cannot tell its cells’ health', async () => {
    const env = { cells: () => ['cell-0'] } as unknown as DrillEnv;
    assert.deepEqual(await waitPassing(env, ['cell-0'], 5000), { passedAfter: {}, notPassing: {} });
  });
});
