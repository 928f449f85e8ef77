/**
 * Unit: which endpoints stand behind a cell at EDS priority 1 after a blue/green flip, and for
 * how long. control-plane/xds/envoy.test.ts proves with real Envoy that this keeps a flip
 * from answering 503.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CellRecord } from '../../shared/kv.js';
import type { Endpoint } from '../../shared/routing-table.js';
import { FlipFallback } from './flip-fallback.js';
import { cellLoadAssignment } from './resources/endpoint.js';
import { decodeAny } from './resources/proto.js';

const cell = (activeColor?: 'blue' | 'green'): CellRecord => ({
  id: 'cell-1',
  state: 'active',
  canary: false,
  global: false,
  capacity: 100,
  version: 'v1',
  ...(activeColor ? { activeColor } : {}),
});
const ep = (c: string, color: 'blue' | 'green', port: number): Endpoint => ({
  id: `${c}-${color}-${port}`,
  cell: c,
  address: '127.0.0.1',
  port,
  version: 'v1',
  color,
});
const all = [ep('cell-1', 'blue', 9001), ep('cell-1', 'green', 9002), ep('cell-2', 'blue', 9003)];

describe('FlipFallback', () => {
  it('keeps nothing before any flip, nor for a cell seen for the first time', () => {
    const f = new FlipFallback(10_000);
    const r = f.apply(new Map([['cell-1', cell('green')]]), all, 0);
    assert.equal(r.fallback.size, 0);
    assert.equal(r.nextExpiry, undefined);
  });

  it("keeps the other color's passing instances for the grace after a flip, then drops them", () => {
    const f = new FlipFallback(10_000);
    f.apply(
      new Map([
        ['cell-1', cell('blue')],
        ['cell-2', cell('blue')],
      ]),
      all,
      0,
    );
    const during = f.apply(
      new Map([
        ['cell-1', cell('green')],
        ['cell-2', cell('blue')],
      ]),
      all,
      1000,
    );
    assert.deepEqual([...during.fallback.keys()], ['cell-1'], 'only the flipped cell');
    assert.deepEqual(
      during.fallback.get('cell-1')!.map((e) => e.color),
      ['blue'],
    );
    assert.equal(during.nextExpiry, 11_000);
    assert.equal(
      f.apply(
        new Map([
          ['cell-1', cell('green')],
          ['cell-2', cell('blue')],
        ]),
        all,
        10_999,
      ).fallback.size,
      1,
    );
    const after = f.apply(
      new Map([
        ['cell-1', cell('green')],
        ['cell-2', cell('blue')],
      ]),
      all,
      11_000,
    );
    assert.equal(after.fallback.size, 0);
    assert.equal(after.nextExpiry, undefined);
  });

  it('a flip back (rollback) restarts the grace with the color just left as the fallback', () => {
    const f = new FlipFallback(10_000);
    f.apply(new Map([['cell-1', cell('blue')]]), all, 0);
    f.apply(new Map([['cell-1', cell('green')]]), all, 1000);
    const back = f.apply(new Map([['cell-1', cell('blue')]]), all, 2000);
    assert.deepEqual(
      back.fallback.get('cell-1')!.map((e) => e.color),
      ['green'],
    );
    assert.equal(back.nextExpiry, 12_000);
  });

  it('keeps no fallback with a grace of 0, for a cell without a color, or for a removed cell', () => {
    const off = new FlipFallback(0);
    off.apply(new Map([['cell-1', cell('blue')]]), all, 0);
    assert.equal(off.apply(new Map([['cell-1', cell('green')]]), all, 1).fallback.size, 0);
    const f = new FlipFallback(10_000);
    f.apply(new Map([['cell-1', cell('blue')]]), all, 0);
    assert.equal(f.apply(new Map([['cell-1', cell()]]), all, 1).fallback.size, 0, 'no color: every instance is primary');
    f.apply(new Map([['cell-1', cell('green')]]), all, 2);
    assert.equal(f.apply(new Map(), all, 3).fallback.size, 0);
  });
});

describe('cellLoadAssignment with a fallback', () => {
  it('publishes the active color at priority 0 and the fallback at priority 1', () => {
    type Cla = { endpoints: { priority?: number; lb_endpoints: { endpoint: { hostname: string } }[] }[] };
    const cla = decodeAny(cellLoadAssignment('cell-1', [all[1]!], [], [all[0]!]).any) as Cla;
    assert.deepEqual(
      cla.endpoints.map((l) => [l.priority ?? 0, l.lb_endpoints.map((e) => e.endpoint.hostname)]),
      [
        [0, ['cell-1-green-9002']],
        [1, ['cell-1-blue-9001']],
      ],
    );
    const plain = decodeAny(cellLoadAssignment('cell-1', [all[1]!]).any) as Cla;
    assert.equal(plain.endpoints.length, 1, 'no fallback: one priority');
  });
});
