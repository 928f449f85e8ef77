/**
 * The verdicts of `edge-consul-partition`, `split-brain-migration` and `host-partition`'s Consul
 * recovery on made-up runs: each
 * passes on a good run and fails on the run it exists to catch (the real drills run in
 * topology/hosts/multi-host.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RequestPoint } from '../points.js';
import type { Verdict } from '../verdicts.js';
import { edgeVerdicts, failedVerdict, type EdgeRun } from './edge-partition.js';
import { splitVerdicts, type SplitRun, type Write } from './split-brain.js';
import { consulBackVerdicts } from './network.js';

const failing = (vs: Verdict[]) => vs.filter((v) => !v.pass).map((v) => v.name);

const WAIT_NOTE =
  'waiting up to 59870 ms for router router-1: no answer in 1000 ms to be reachable before the freeze; cell-1 not frozen, serving nyc';

function edgeRun(answers: [replica: string, at: number, cell: string][], patch: Partial<EdgeRun> = {}): EdgeRun {
  return {
    edge: 'edge-1',
    cutFrom: ['consul-1', 'cp'],
    replicas: [
      { plane: 'router', replica: 'router-1', url: 'http://r' },
      { plane: 'envoy', replica: 'envoy-1', url: 'http://e' },
    ],
    move: { market: 'nyc', from: 'cell-1', to: 'cell-2', code: 0, detail: '' },
    movedFrom: 1000,
    waitNote: WAIT_NOTE,
    waitSeenAt: 2500,
    stateAtHeal: 'freezing',
    healedAt: 5000,
    endedAt: 7000,
    probes: answers.map(([replica, at, cell]) => ({ replica, start: at, end: at + 5, status: 200, cell })),
    ...patch,
  };
}

describe('edge-consul-partition verdicts', () => {
  const good = edgeRun([
    ['router-1', 2000, 'cell-1'],
    ['envoy-1', 2000, 'cell-1'],
    ['router-1', 4000, 'cell-1'],
    ['router-1', 6900, 'cell-2'],
    ['envoy-1', 7300, 'cell-2'],
  ]);

  it('pass when the move waited for the cut router, the owner served until the heal, and the move completed after it and was applied within 5 s', () => {
    const vs = edgeVerdicts(good);
    assert.deepEqual(failing(vs), []);
    assert.equal(
      vs.find((v) => v.name === 'move applied after the paths came back (router-1)')?.measured,
      '1905 ms after the paths came back',
    );
  });

  it('fail the positive control when the move went through while the edge was said cut (nothing was cut: no wait), or waited for another plane only', () => {
    const moved = edgeRun(
      [
        ['router-1', 2000, 'cell-2'],
        ['envoy-1', 2000, 'cell-2'],
        ['router-1', 5100, 'cell-2'],
        ['envoy-1', 5100, 'cell-2'],
      ],
      { waitNote: undefined, waitSeenAt: undefined, stateAtHeal: 'cleanup-wait', endedAt: 2200 },
    );
    assert.deepEqual(failing(edgeVerdicts(moved)), [
      'move waited while the edge is cut off',
      'owner kept serving while cut off (router-1)',
      'owner kept serving while cut off (envoy-1)',
      'move made while cut off applied after the paths came back',
    ]);
    const other = edgeRun(
      good.probes.map((p) => [p.replica, p.start, p.cell]),
      { waitNote: WAIT_NOTE.replace('router router-1', 'router router-2') },
    );
    assert.deepEqual(failing(edgeVerdicts(other)), ['move waited while the edge is cut off']);
  });

  it('fail when a cut replica answered from another cell while cut, the move rolled back (a bound of 0), or a replica applied it late or never', () => {
    const run = edgeRun([
      ['router-1', 2000, 'cell-2'],
      ['envoy-1', 2000, 'cell-1'],
      ['router-1', 13_000, 'cell-2'],
      ['envoy-1', 12_000, 'cell-1'],
    ]);
    assert.deepEqual(failing(edgeVerdicts(run)), [
      'owner kept serving while cut off (router-1)',
      'move applied after the paths came back (router-1)',
      'move applied after the paths came back (envoy-1)',
    ]);
    const rolledBack = edgeRun(
      [
        ['router-1', 2000, 'cell-1'],
        ['envoy-1', 2000, 'cell-1'],
        ['router-1', 6000, 'cell-1'],
        ['envoy-1', 6000, 'cell-1'],
      ],
      {
        move: {
          ...good.move!,
          code: 1,
          detail: 'migration of nyc rolled-back: freeze not confirmed: not reachable within 0 ms: router router-1: …',
        },
        waitNote: undefined,
        stateAtHeal: 'rolled-back',
        endedAt: 2100,
      },
    );
    assert.deepEqual(failing(edgeVerdicts(rolledBack)), [
      'move waited while the edge is cut off',
      'move made while cut off applied after the paths came back',
      'move applied after the paths came back (router-1)',
      'move applied after the paths came back (envoy-1)',
    ]);
  });

  const point = (p: Partial<RequestPoint>): RequestPoint => ({
    start: 0,
    end: 1,
    ms: 1,
    market: 'nyc',
    owner: 'cell-1',
    cell: 'cell-1',
    plane: 'router',
    replica: 'router-1',
    op: 'create',
    status: 201,
    code: 'none',
    scope: 'other',
    attempt: 'first',
    failed: false,
    ...p,
  });

  it('count every failed request: a refused move leaves no stale answer to set apart', () => {
    assert.equal(failedVerdict(good, [point({}), point({ replica: 'envoy-1' })]).pass, true);
    for (const bad of [
      point({ status: 503, code: 'cell_unavailable', cell: '', failed: true }),
      point({ status: 409, code: 'market_frozen', failed: true }),
      point({ op: 'get', status: 404, code: 'not_found', failed: true, replica: 'envoy-1' }),
      point({ status: 503, code: 'market_migrating', failed: true, replica: 'router-2' }),
    ])
      assert.equal(failedVerdict(good, [point({}), bad]).pass, false, JSON.stringify(bad));
  });
});

describe('split-brain-migration verdicts', () => {
  const write = (start: number, cell: string, read: string | undefined, id = `o-${start}`): Write => ({
    start,
    end: start + 5,
    status: 201,
    cell,
    id,
    replica: 'router-1',
    readBack: read === undefined ? undefined : { start: 9000, end: 9001, status: read === '' ? 404 : 200, cell: read },
  });
  const run = (writes: Write[], finalState = 'cleanup-wait', owner = 'cell-2'): SplitRun => ({
    market: 'nyc',
    from: 'cell-1',
    to: 'cell-2',
    cut: ['cell-1'],
    cutState: 'copying',
    finalState,
    owner,
    code: 0,
    writes,
  });

  it('pass a completed move: writes on the source, then on the target, all read back from the target', () => {
    assert.deepEqual(failing(splitVerdicts(run([write(1, 'cell-1', 'cell-2'), write(2, 'cell-2', 'cell-2')]))), []);
  });

  it('pass a rolled-back move: every write on the source and read back from it', () => {
    assert.deepEqual(
      failing(splitVerdicts(run([write(1, 'cell-1', 'cell-1'), write(2, 'cell-1', 'cell-1')], 'rolled-back', 'cell-1'))),
      [],
    );
  });

  it('fail "lost" when an acknowledged order is not read back from the owner', () => {
    const r = run([write(1, 'cell-1', 'cell-2'), write(2, 'cell-1', '')]);
    assert.deepEqual(failing(splitVerdicts(r)), ['no acknowledged order lost']);
  });

  it('fail "two cells" when the source took a write sent after the target had answered one, or the target took one of a rolled-back move', () => {
    const late = run([write(1, 'cell-2', 'cell-2'), write(10, 'cell-1', 'cell-2')]);
    assert.deepEqual(failing(splitVerdicts(late)), ['no order written by two cells']);
    // A write held by a plane while the freeze barrier waited (sent at 1, answered by the target at
    // 500) and a later-sent one a slower plane took to the source before its freeze: no split.
    const held = run([{ ...write(1, 'cell-2', 'cell-2'), end: 500 }, write(2, 'cell-1', 'cell-2')]);
    assert.deepEqual(failing(splitVerdicts(held)), []);
    const back = run([write(1, 'cell-1', 'cell-1'), write(2, 'cell-2', 'cell-1')], 'rolled-back', 'cell-1');
    assert.deepEqual(failing(splitVerdicts(back)), ['no order written by two cells']);
  });

  it('fail the positive control when nothing was cut, and the outcome when the migration failed', () => {
    const uncut = { ...run([write(1, 'cell-1', 'cell-2')]), cutState: undefined };
    assert.deepEqual(failing(splitVerdicts(uncut)), ['source host cut mid-migration']);
    assert.deepEqual(failing(splitVerdicts(run([write(1, 'cell-1', 'cell-1')], 'failed', 'cell-1'))), [
      'migration rolled back or completed',
    ]);
  });
});

describe('host-partition: the cut cell passes in Consul again after the link came back', () => {
  it('passes within 10 s, and fails later or never, naming the checks that stayed failing', () => {
    const [fast, late, never] = consulBackVerdicts([
      { cell: 'cell-1', ms: 1200 },
      { cell: 'cell-2', ms: 10_001 },
      { cell: 'cell-0', why: 'cell-0 serfHealth critical: Agent not live or unreachable' },
    ]);
    assert.deepEqual([fast!.pass, late!.pass, never!.pass], [true, false, false]);
    assert.equal(fast!.name, 'passing in Consul again after the link came back (cell-1)');
    assert.equal(late!.measured, '10001 ms');
    assert.match(never!.measured, /^not within 20 s: cell-0 serfHealth critical/);
  });
});
