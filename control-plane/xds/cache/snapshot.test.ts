/** Snapshots: consistency check before publishing, content versions, the overlay map, the per-node cache. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cellCluster } from '../resources/cluster.js';
import { cellLoadAssignment } from '../resources/endpoint.js';
import type { Resource } from '../resources/resource.js';
import { cellRoutes, frozenRoutes } from '../resources/route.js';
import { marketScope } from '../resources/scoped-route.js';
import { CLUSTER, ENDPOINT, ROUTE, SCOPED_ROUTE, type TypeUrl } from '../resources/type-urls.js';
import { countVisits } from '../bench/visits.js';
import { OverlayMap } from './overlay-map.js';
import { InconsistentSnapshotError, SnapshotCache } from './snapshot-cache.js';
import { nodesBehind, type NodeStatus } from './status.js';
import { DELTA_HISTORY_STEPS, hintChanges, namesChangedSince, Snapshot, typeSnapshot } from './snapshot.js';

const byName = (rs: Resource[]) => new Map(rs.map((r) => [r.name, r]));

function snap(opts: { clusters?: string[]; eds?: string[]; routes?: string[]; scopes?: [string, string][] }): Snapshot {
  return new Snapshot(
    new Map<TypeUrl, Map<string, Resource>>([
      [CLUSTER, byName((opts.clusters ?? ['a']).map((c) => cellCluster(c)))],
      [ENDPOINT, byName((opts.eds ?? ['a']).map((c) => cellLoadAssignment(c, [])))],
      [ROUTE, byName([...(opts.routes ?? ['a']).map((c) => cellRoutes(c, 'active')), frozenRoutes(0)])],
      [SCOPED_ROUTE, byName((opts.scopes ?? [['m-1', 'cell:a']]).map(([m, rc]) => marketScope(m, rc)))],
    ]),
  );
}

describe('snapshots', () => {
  it('passes the consistency check when every reference resolves', () => {
    assert.deepEqual(snap({}).consistencyProblems(), []);
  });

  it('names every broken reference: scope → route, route → cluster, cluster → endpoints', () => {
    assert.deepEqual(snap({ scopes: [['m-1', 'cell:zz']] }).consistencyProblems(), ['srds market:m-1: refers to missing rds cell:zz']);
    assert.deepEqual(snap({ clusters: [], eds: [] }).consistencyProblems(), ['rds cell:a: refers to missing cds cell:a']);
    assert.deepEqual(snap({ eds: [] }).consistencyProblems(), ['cds cell:a: refers to missing eds cell:a']);
  });

  it('refuses an inconsistent snapshot in the cache: the node keeps its last good one', () => {
    const cache = new SnapshotCache();
    const good = snap({});
    cache.setSnapshot('n', good);
    assert.throws(
      () => cache.setSnapshot('n', snap({ scopes: [['m-1', 'cell:zz']] })),
      (err: unknown) => err instanceof InconsistentSnapshotError && err.code === 'inconsistent_snapshot',
    );
    assert.equal(cache.getSnapshot('n'), good);
  });

  it('tells watchers of a node about new versions only', () => {
    const cache = new SnapshotCache();
    const seen: string[] = [];
    const stop = cache.watch('n', (s) => seen.push(s.version));
    cache.setSnapshot('n', snap({}));
    cache.setSnapshot('n', snap({})); // same content, same version: not re-announced
    cache.setSnapshot('n', snap({ scopes: [['m-2', 'cell:a']] }));
    cache.setSnapshot('other', snap({}));
    stop();
    cache.setSnapshot('n', snap({ scopes: [['m-3', 'cell:a']] }));
    assert.equal(seen.length, 2);
    assert.notEqual(seen[0], seen[1]);
  });

  it('against the previous snapshot, still checks every scope when the routes changed', () => {
    const before = snap({ routes: ['a', 'b'], scopes: [['m-1', 'cell:b']] });
    const after = snap({ routes: ['a'], scopes: [['m-1', 'cell:b']] });
    assert.deepEqual(after.consistencyProblems(before), ['srds market:m-1: refers to missing rds cell:b']);
    assert.deepEqual(before.consistencyProblems(before), [], 'the same content again: nothing new to check');
  });

  it('versions by content, whatever the insertion order', () => {
    const x = snap({ clusters: ['a', 'b'], eds: ['a', 'b'], routes: ['a', 'b'] });
    const y = snap({ clusters: ['b', 'a'], eds: ['b', 'a'], routes: ['b', 'a'] });
    assert.equal(x.version, y.version);
  });
});

describe('overlay map', () => {
  it('reads like the base with the changes applied, and never stacks layers', () => {
    const base = new Map([
      ['a', 1],
      ['b', 2],
    ]);
    const one = OverlayMap.of(
      base,
      new Map<string, number | undefined>([
        ['b', undefined],
        ['c', 3],
      ]),
    );
    assert.deepEqual([...one].sort(), [
      ['a', 1],
      ['c', 3],
    ]);
    assert.equal(one.size, 2);
    assert.equal(one.has('b'), false);
    const two = OverlayMap.of(
      one,
      new Map<string, number | undefined>([
        ['b', 5],
        ['a', undefined],
      ]),
    );
    assert.deepEqual(
      new Map(two),
      new Map([
        ['b', 5],
        ['c', 3],
      ]),
    );
    assert.equal(two.size, 2);
    assert.deepEqual(
      base,
      new Map([
        ['a', 1],
        ['b', 2],
      ]),
      'the base is never changed',
    );
    const compacted = OverlayMap.of(base, new Map([['x', 9]]), 0);
    assert.ok(compacted instanceof Map);
  });

  it('keeps every version readable: older overlays, and a line forked from an older one', () => {
    const base = new Map([
      ['a', 1],
      ['b', 2],
    ]);
    const v1 = OverlayMap.of(base, new Map([['a', 10]]));
    const v2 = OverlayMap.of(v1, new Map<string, number | undefined>([['b', undefined]]));
    const v3 = OverlayMap.of(v2, new Map([['a', 30]]));
    const fork = OverlayMap.of(v1, new Map([['c', 3]]));
    const v4 = OverlayMap.of(v3, new Map([['b', 40]]));
    const read = (m: ReadonlyMap<string, number>) => [m.size, [...m].sort()];
    assert.deepEqual(read(v1), [
      2,
      [
        ['a', 10],
        ['b', 2],
      ],
    ]);
    assert.deepEqual(read(v2), [1, [['a', 10]]]);
    assert.deepEqual(read(v3), [1, [['a', 30]]]);
    assert.deepEqual(read(fork), [
      3,
      [
        ['a', 10],
        ['b', 2],
        ['c', 3],
      ],
    ]);
    assert.deepEqual(read(v4), [
      2,
      [
        ['a', 30],
        ['b', 40],
      ],
    ]);
    assert.equal(v2.get('b'), undefined);
    assert.equal(v1.has('b'), true);
    assert.equal(fork.has('c') && !v4.has('c'), true);
  });

  it('makes a new version at the cost of its own changes, not of the changes since the last compaction', () => {
    const base = new Map(Array.from({ length: 20_000 }, (_, i): [string, number] => [`k-${i}`, i]));
    let m: ReadonlyMap<string, number> = base;
    for (let i = 0; i < 3000; i++) m = OverlayMap.of(m, new Map([[`k-${i}`, -i]]));
    assert.ok(m instanceof OverlayMap, 'not compacted yet');
    const { result, visits } = countVisits(() => OverlayMap.of(m, new Map([['k-7', 7]])));
    assert.ok(visits.entries <= 2, `one change visited ${visits.entries} entries`);
    assert.equal(result.get('k-7'), 7);
    assert.equal(result.get('k-8'), -8);
    assert.equal(result.get('k-5000'), 5000);
    assert.equal(result.size, 20_000);
  });

  it('compacts once the changes outgrow a quarter of the root: a walk of the map per n/4 changes at most', () => {
    const base = new Map(Array.from({ length: 40 }, (_, i): [number, number] => [i, i]));
    let m: ReadonlyMap<number, number> = base;
    let compactedAt = 0;
    for (let i = 1; i <= 40 && compactedAt === 0; i++) {
      m = OverlayMap.of(m, new Map([[i % 40, -i]]), 0);
      if (!(m instanceof OverlayMap)) compactedAt = i;
    }
    assert.equal(compactedAt, 11, 'the 11th change passes 40 / 4');
    assert.equal(m.get(5), -5);
    assert.equal(m.size, 40);
  });

  it('keeps a bounded history of steps: names changed since a snapshot up to DELTA_HISTORY_STEPS back', () => {
    let items: ReadonlyMap<string, Resource> = byName([marketScope('m-0', 'cell:a')]);
    const line = [typeSnapshot(items)];
    for (let i = 1; i <= DELTA_HISTORY_STEPS + 4; i++) {
      const next = new Map(items).set(`market:m-${i}`, marketScope(`m-${i}`, 'cell:a'));
      hintChanges(next, { base: items, names: new Set([`market:m-${i}`]) });
      line.push(typeSnapshot(next));
      items = next;
    }
    const head = line.at(-1)!;
    assert.deepEqual(namesChangedSince(head, head), new Set());
    assert.deepEqual(namesChangedSince(head, line.at(-3)!), new Set([`market:m-${line.length - 2}`, `market:m-${line.length - 1}`]));
    assert.equal(namesChangedSince(head, line.at(-1 - DELTA_HISTORY_STEPS)!)?.size, DELTA_HISTORY_STEPS);
    assert.equal(namesChangedSince(head, line.at(-2 - DELTA_HISTORY_STEPS)!), undefined, 'older than the history: unknown');
    assert.equal(namesChangedSince(head, line[0]!), undefined);
  });
});

describe('nodesBehind (the Envoys a freeze waits for, docs/operators.md §Waiting for the data planes)', () => {
  const now = Date.parse('2026-12-07T23:00:00.000Z');
  const node = (id: string, patch: Partial<NodeStatus>): NodeStatus => ({ id, connected: true, streams: 1, types: {}, ...patch });
  const acked = (v: string) => ({ mode: 'sotw' as const, lastAckedVersion: v, nacks: 0, pushes: 1, parked: false });
  const current = (id: string, key: 'rds' | 'srds') => (id === 'fresh' ? undefined : `${key}-v2`);

  it('names a connected node behind on RDS or SRDS, one with no routes built yet, and one disconnected lately; not one in sync or gone long ago', () => {
    const nodes = [
      node('in-sync', { types: { rds: acked('rds-v2'), srds: acked('srds-v2') } }),
      node('behind', { types: { rds: acked('rds-v2'), srds: acked('srds-v1') } }),
      node('fresh', {}),
      node('cut', { connected: false, streams: 0, disconnectedAt: new Date(now - 4000).toISOString(), types: { rds: acked('rds-v1') } }),
      node('gone', { connected: false, streams: 0, disconnectedAt: new Date(now - 31_000).toISOString() }),
    ];
    assert.deepEqual(nodesBehind(nodes, current, 30_000, now), [
      'behind: has not ACKed the current routes',
      'fresh: no routes built for it yet',
      'cut: its xDS stream ended 4000 ms ago',
    ]);
    assert.deepEqual(nodesBehind(nodes.slice(0, 1), current, 30_000, now), []);
    assert.deepEqual(nodesBehind(nodes.slice(3), current, 0, now), [], 'with 0, a disconnected node is never waited for');
  });
});
