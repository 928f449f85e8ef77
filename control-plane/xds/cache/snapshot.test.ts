/** Snapshots: consistency check before publishing, content versions, the overlay map, the per-node cache. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cellCluster } from '../resources/cluster.js';
import { cellLoadAssignment } from '../resources/endpoint.js';
import type { Resource } from '../resources/resource.js';
import { cellRoutes, frozenRoutes } from '../resources/route.js';
import { marketScope } from '../resources/scoped-route.js';
import { CLUSTER, ENDPOINT, ROUTE, SCOPED_ROUTE, type TypeUrl } from '../resources/type-urls.js';
import { OverlayMap } from './overlay-map.js';
import { InconsistentSnapshotError, SnapshotCache } from './snapshot-cache.js';
import { Snapshot } from './snapshot.js';

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
});
