import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { analyze, type FaultWindow } from './analyze.js';
import type { RequestPoint } from './points.js';
import type { Probe } from './env/probe.js';
import { DOWN_MIN_PROBES, downObserved, judge, NO_DATA, type Expectations, type Verdict } from './verdicts.js';

const T0 = 1_800_000_000_000;
/** Fault window +3 s to +6 s of a 10 s run, cell-1 faulted. */
const W: FaultWindow = { start: T0 + 3000, end: T0 + 6000, cells: ['cell-1'] };
const PLANES = ['router', 'envoy'];

type Shape = (p: RequestPoint, t: number) => Partial<RequestPoint> | undefined;

/**
 * 10 s of traffic, one request every 25 ms, rotating over cell-1 and cell-2 and over both planes;
 * `shape` changes a request (or drops it when it returns undefined).
 */
function run(shape: Shape = () => ({})): RequestPoint[] {
  const out: RequestPoint[] = [];
  for (let i = 0; i * 25 < 10_000; i++) {
    const t = i * 25;
    const owner = i % 2 === 0 ? 'cell-1' : 'cell-2';
    const plane = PLANES[Math.floor(i / 2) % 2]!;
    const base: RequestPoint = {
      start: T0 + t,
      end: T0 + t + 5,
      ms: 5,
      market: owner === 'cell-1' ? 'a' : 'b',
      owner,
      cell: owner,
      plane,
      replica: `${plane}-0`,
      op: 'get',
      status: 200,
      code: 'none',
      scope: owner === 'cell-1' ? 'faulted' : 'other',
      attempt: 'first',
      failed: false,
    };
    const change = shape(base, t);
    if (change === undefined) continue;
    const p = { ...base, ...change };
    out.push({ ...p, end: p.start + p.ms });
  }
  return out;
}

const inWindow = (t: number) => t >= 3000 && t < 6000;
const faultedIn = (p: RequestPoint, t: number) => p.owner === 'cell-1' && inWindow(t);
/** cell-1 answers every request in the window with a fast 503. */
const fails: Shape = (p, t) => (faultedIn(p, t) ? { status: 503, code: 'cell_unavailable', failed: true, ms: 2 } : {});
/** cell-1 answers every request in the window 650 ms late. */
const slow: Shape = (p, t) => (faultedIn(p, t) ? { ms: 650 } : {});

function verdicts(shape: Shape, e: Expectations, opts: { planes?: string[]; cells?: string[]; window?: FaultWindow } = {}): Verdict[] {
  return judge(analyze({ requests: run(shape), failovers: [], planes: opts.planes ?? PLANES, cells: opts.cells }, opts.window ?? W), e);
}

function find(vs: Verdict[], name: string): Verdict {
  const v = vs.find((x) => x.name === name);
  assert.ok(v, `verdict '${name}' in ${JSON.stringify(vs.map((x) => x.name))}`);
  return v;
}

interface Case {
  what: string;
  shape: Shape;
  e: Expectations;
  opts?: Parameters<typeof verdicts>[2];
  /** verdict name → pass, and optionally what it measured (a regexp). */
  expect: Record<string, boolean | [boolean, RegExp]>;
}

const failFast: Expectations = { faultObserved: { minFailedShare: 0.5 } };
const latency: Expectations = { faultObserved: { minP99Ms: 600 } };
const pooled: Expectations = { faultObserved: { minFailed: 1, pooled: true } };
const moves: Expectations = { movesObserved: true };
/** Market `a` moved from cell-1 to cell-2 during the window (no faulted cell). */
const MOVED: FaultWindow = { ...W, cells: [], moved: { a: 'cell-2' } };
/** Market `a` answered by cell-2 from `from` ms on. */
const movedAt =
  (from: number): Shape =>
  (p, t) =>
    p.market === 'a' && t >= from ? { cell: 'cell-2' } : {};
const droppedOn =
  (plane: string, also: Shape = fails): Shape =>
  (p, t) =>
    p.owner === 'cell-1' && p.plane === plane && inWindow(t) ? undefined : also(p, t);

const CASES: Case[] = [
  {
    what: 'fault observed: a failing cell passes on each plane',
    shape: fails,
    e: failFast,
    expect: { 'fault observed (router)': [true, /100\.00% failed \(30 of 30\)/], 'fault observed (envoy)': true },
  },
  {
    what: 'fault observed: a fault that never started fails on each plane',
    shape: () => ({}),
    e: failFast,
    expect: { 'fault observed (router)': [false, /^0\.00% failed/], 'fault observed (envoy)': false },
  },
  {
    what: 'fault observed: under the floor fails (a third of the requests failed)',
    shape: (p, t) => (faultedIn(p, t) && t % 150 === 0 ? fails(p, t) : {}),
    e: failFast,
    expect: { 'fault observed (router)': false, 'fault observed (envoy)': false },
  },
  {
    what: 'fault observed: only one plane saw the fault',
    shape: (p, t) => (p.plane === 'router' ? fails(p, t) : {}),
    e: failFast,
    expect: { 'fault observed (router)': true, 'fault observed (envoy)': false },
  },
  {
    what: 'fault observed: a plane with no request of the faulted cell fails as no data',
    shape: droppedOn('envoy'),
    e: failFast,
    expect: { 'fault observed (router)': true, 'fault observed (envoy)': [false, new RegExp(`^${NO_DATA}$`)] },
  },
  {
    what: 'fault observed: a plane driven but never reached fails as no data',
    shape: fails,
    e: failFast,
    opts: { planes: [...PLANES, 'direct'] },
    expect: { 'fault observed (direct)': [false, new RegExp(NO_DATA)], 'fault observed (router)': true },
  },
  {
    what: 'fault observed: a latency fault passes on p99 at or over the least injected delay',
    shape: slow,
    e: latency,
    expect: { 'fault observed (router)': [true, /p99 650 ms/], 'fault observed (envoy)': true },
  },
  {
    what: 'fault observed: a latency fault that never started fails',
    shape: () => ({}),
    e: latency,
    expect: { 'fault observed (router)': [false, /p99 5 ms/], 'fault observed (envoy)': false },
  },
  {
    what: 'fault observed, pooled: one failure on one plane is enough',
    shape: (p, t) => (faultedIn(p, t) && p.plane === 'envoy' && t === 3050 ? fails(p, t) : {}),
    e: pooled,
    expect: { 'fault observed (router+envoy)': [true, /1 of 60/] },
  },
  {
    what: 'fault observed, pooled: no failure fails',
    shape: () => ({}),
    e: pooled,
    expect: { 'fault observed (router+envoy)': false },
  },
  {
    what: 'fault observed, pooled: a plane without the faulted cell in the window fails as no data',
    shape: droppedOn('router'),
    e: pooled,
    expect: { 'fault observed (router+envoy)': [false, /no data on router/] },
  },
  {
    what: 'wrong cell: none passes on each plane',
    shape: fails,
    e: {},
    expect: { 'wrong-cell answers (router)': [true, /^0 of \d+ 2xx/], 'wrong-cell answers (envoy)': true },
  },
  {
    what: 'wrong cell: one success from another cell fails its plane',
    shape: (p, t) => (p.owner === 'cell-2' && p.plane === 'envoy' && t === 7075 ? { cell: 'cell-1' } : {}),
    e: {},
    expect: { 'wrong-cell answers (router)': true, 'wrong-cell answers (envoy)': [false, /^1 of \d+ 2xx answers \(cell-2: 1\)/] },
  },
  {
    what: 'wrong cell: a 2xx with no x-cell-id fails',
    shape: (p, t) => (t === 25 ? { cell: '' } : {}),
    e: {},
    expect: { 'wrong-cell answers (router)': false },
  },
  {
    what: 'wrong cell: a plane with no 2xx answer fails as no data',
    shape: (p) => (p.plane === 'envoy' ? { status: 503, failed: true, code: 'cell_unavailable' } : {}),
    e: {},
    expect: { 'wrong-cell answers (envoy)': [false, /no data/], 'wrong-cell answers (router)': true },
  },
  {
    what: 'wrong cell: the new owner of a market moved in the window is right, inside and after it',
    shape: (p, t) => (p.owner === 'cell-1' && t >= 4000 ? { cell: 'cell-2' } : {}),
    e: {},
    opts: { window: { ...W, cells: [], moved: { a: 'cell-2' } } },
    expect: { 'wrong-cell answers (router)': true, 'wrong-cell answers (envoy)': true },
  },
  {
    what: 'wrong cell: the old owner of a moved market after the window is wrong',
    shape: (p, t) => (p.owner === 'cell-1' && t >= 4000 && t < 8000 ? { cell: 'cell-2' } : {}),
    e: {},
    opts: { window: { ...W, cells: [], moved: { a: 'cell-2' } } },
    expect: { 'wrong-cell answers (router)': false, 'wrong-cell answers (envoy)': false },
  },
  {
    what: 'time to isolate: fast failures pass against the fixed bound',
    shape: fails,
    e: { isolateWithinMs: { router: 1000, envoy: 5000 } },
    expect: { 'time to isolate (router)': [true, /^0 ms$/], 'time to isolate (envoy)': true },
  },
  {
    what: 'time to isolate: slow answers past the bound fail',
    shape: (p, t) => (faultedIn(p, t) ? { ...fails(p, t), ms: t < 4500 ? 900 : 2 } : {}),
    e: { isolateWithinMs: { router: 1000, envoy: 5000 } },
    expect: { 'time to isolate (router)': [false, /^1500 ms$/], 'time to isolate (envoy)': true },
  },
  {
    what: 'time to isolate: a plane without requests of the faulted cell fails as no data; a plane without a bound has no verdict',
    shape: droppedOn('envoy'),
    e: { isolateWithinMs: { router: 1000, envoy: 5000, direct: 1 } },
    expect: { 'time to isolate (router)': true, 'time to isolate (envoy)': [false, new RegExp(`^${NO_DATA}$`)] },
  },
  {
    what: 'recovered: a plane without requests of the faulted cell after the window fails as no data',
    shape: (p, t) => (p.owner === 'cell-1' && p.plane === 'router' && t >= 6000 ? undefined : fails(p, t)),
    e: { recovers: true },
    expect: { 'recovered (envoy)': true, 'recovered (router)': [false, new RegExp(`^${NO_DATA}$`)] },
  },
  {
    what: "other cells' p99: a planned cell with no request in the window fails as no data",
    shape: fails,
    e: { otherCellsLatency: { factor: 3, addMs: 250 } },
    opts: { cells: ['cell-1', 'cell-2', 'cell-3'] },
    expect: { 'cell-2 p99 during the fault': true, 'cell-3 p99 during the fault': [false, /no data/] },
  },
  {
    what: "other cells' p99: a cell silent during the window fails as no data",
    shape: (p, t) => (p.owner === 'cell-2' && inWindow(t) ? undefined : fails(p, t)),
    e: { otherCellsLatency: { factor: 3, addMs: 250 } },
    expect: { 'cell-2 p99 during the fault': [false, /no data during/] },
  },
  {
    what: 'spill, blast radius: no request outside the faulted cell fails as no data',
    shape: (p, t) => (p.owner === 'cell-2' ? undefined : fails(p, t)),
    e: { spillZero: true, blastWithinPoints: 2 },
    expect: { 'spill (failures outside the faulted cell)': [false, /no data/], 'blast radius': true },
  },
  {
    what: 'blast radius: no request in the window fails as no data',
    shape: (p, t) => (inWindow(t) ? undefined : {}),
    e: { blastWithinPoints: 2 },
    expect: { 'blast radius': [false, /no data/] },
  },
  {
    what: 'zero failed: no request at all fails as no data',
    shape: () => undefined,
    e: { zeroFailed: true },
    expect: { 'failed requests': [false, /no data/], 'traffic sent': false },
  },
  {
    what: 'moves observed: a market moved in Consul and answered by its new owner passes on each plane',
    shape: movedAt(4000),
    e: moves,
    opts: { window: MOVED },
    expect: { 'fault observed (router)': [true, /a cell-1 -> cell-2: [1-9]\d*/], 'fault observed (envoy)': true },
  },
  {
    what: 'moves observed: no market moved in Consul (the migration never ran) fails as no data on each plane',
    shape: () => ({}),
    e: moves,
    opts: { window: { ...W, cells: [] } },
    expect: { 'fault observed (router)': [false, /no data \(no market moved/], 'fault observed (envoy)': false },
  },
  {
    what: 'moves observed: moved in Consul but never answered by the new owner fails',
    shape: () => ({}),
    e: moves,
    opts: { window: MOVED },
    expect: { 'fault observed (router)': [false, /a cell-1 -> cell-2: 0/], 'fault observed (envoy)': false },
  },
  {
    what: 'moves observed: the new owner answering on one plane only fails the other',
    shape: (p, t) => (p.plane === 'router' ? movedAt(4000)(p, t) : {}),
    e: moves,
    opts: { window: MOVED },
    expect: { 'fault observed (router)': true, 'fault observed (envoy)': [false, /: 0$/] },
  },
  {
    what: 'moves observed: failed answers from the new owner do not count',
    shape: (p, t) => (p.market === 'a' && t >= 4000 ? { cell: 'cell-2', status: 503, code: 'cell_unavailable', failed: true } : {}),
    e: moves,
    opts: { window: MOVED },
    expect: { 'fault observed (router)': false, 'fault observed (envoy)': false },
  },
  {
    what: 'moves observed: answers from the new owner before the window do not count',
    shape: (p, t) => (p.market === 'a' && t < 3000 ? { cell: 'cell-2' } : {}),
    e: moves,
    opts: { window: MOVED },
    expect: { 'fault observed (router)': false, 'fault observed (envoy)': false },
  },
];

describe('drill verdicts', () => {
  for (const c of CASES) {
    it(c.what, () => {
      const vs = verdicts(c.shape, c.e, c.opts);
      for (const [name, want] of Object.entries(c.expect)) {
        const [pass, measured] = Array.isArray(want) ? want : [want, undefined];
        const v = find(vs, name);
        assert.equal(v.pass, pass, `${name}: ${JSON.stringify(v)}`);
        if (measured) assert.match(v.measured, measured, name);
      }
    });
  }

  it('judges isolation and recovery only on the planes driven, and makes the wrong-cell check in every drill', () => {
    const routerOnly: Shape = (p, t) => (p.plane === 'envoy' ? undefined : fails(p, t));
    const vs = verdicts(routerOnly, { isolateWithinMs: { router: 1000, envoy: 5000 }, recovers: true }, { planes: ['router'] });
    const names = vs.map((v) => v.name);
    assert.ok(names.includes('time to isolate (router)') && !names.some((n) => n.includes('envoy')), JSON.stringify(names));
    assert.ok(
      verdicts(fails, {}).some((v) => v.name.startsWith('wrong-cell answers')),
      'no expectation needed',
    );
  });
});

describe("component drills: fault observed (down) from the drill's probes", () => {
  const probes = (...answered: boolean[]): Probe[] =>
    answered.map((a, i) => ({ at: T0 + i * 250, answered: a, detail: a ? 'HTTP 200' : 'ECONNREFUSED' }));

  it('passes when every probe in the window went unanswered', () => {
    const v = downObserved('router-1', probes(false, false, false, false));
    assert.equal(v.name, 'fault observed (router-1 down)');
    assert.equal(v.pass, true, JSON.stringify(v));
    assert.match(v.measured, /^4 of 4 probes unanswered over 750 ms \(ECONNREFUSED 4\)$/);
  });

  it('fails when the component answered every probe (the fault never started)', () => {
    const v = downObserved('consul', probes(true, true, true));
    assert.equal(v.pass, false);
    assert.match(v.measured, /^0 of 3 probes unanswered .*answered at \+0 ms \(HTTP 200\)/);
  });

  it('fails when the component came back inside the window (one answer is enough)', () => {
    const v = downObserved('control-plane', probes(false, false, true, false));
    assert.equal(v.pass, false);
    assert.match(v.measured, /3 of 4 .*answered at \+500 ms/);
  });

  it(`fails with fewer than ${DOWN_MIN_PROBES} probes, and as no data with none`, () => {
    assert.equal(downObserved('envoy-1', probes(false)).pass, false);
    for (const none of [undefined, []]) {
      const v = downObserved('envoy-1', none);
      assert.equal(v.pass, false);
      assert.equal(v.measured, `${NO_DATA} (no probe)`);
    }
  });
});
