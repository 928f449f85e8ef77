import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { analyze, isWrongCell, ownersWhenSent, timeToIsolate, timeToRecover, DEFAULT_ANALYSIS, type FaultWindow } from './analyze.js';
import { parseResult } from '../infra/vegeta/index.js';
import { requestPoint, type RequestPoint } from './points.js';
import { gateVerdicts, judge } from './verdicts.js';

const T0 = 1_800_000_000_000;

function req(p: Partial<RequestPoint> & { start: number }): RequestPoint {
  const ms = p.ms ?? 5;
  return {
    end: p.start + ms,
    ms,
    market: 'm1',
    owner: 'cell-1',
    cell: p.owner ?? 'cell-1',
    plane: 'router',
    replica: 'router-0',
    op: 'get',
    status: p.failed ? 503 : 200,
    code: p.failed ? 'cell_unavailable' : 'none',
    scope: 'other',
    attempt: 'first',
    failed: false,
    ...p,
  };
}

/** 10 s of traffic, 20 requests/s alternating between cell-1 and cell-2; `f` shapes cell-1's requests. */
function traffic(f: (t: number) => Partial<RequestPoint>): RequestPoint[] {
  const out: RequestPoint[] = [];
  for (let t = 0; t < 10_000; t += 50) {
    const owner = (t / 50) % 2 === 0 ? 'cell-1' : 'cell-2';
    out.push(req({ start: T0 + t, owner, market: owner === 'cell-1' ? 'a' : 'b', ...(owner === 'cell-1' ? f(t) : {}) }));
  }
  return out;
}

const W: FaultWindow = { start: T0 + 3000, end: T0 + 6000, cells: ['cell-1'] };

describe('drill analysis', () => {
  it('counts failures of the faulted cell in the blast radius and none as spill', () => {
    const a = analyze({ requests: traffic((t) => ({ failed: t >= 3000 && t < 6000 })), failovers: [] }, W);
    assert.equal(a.spill.failed, 0);
    assert.equal(a.blastRadius.windowRequests, 60);
    assert.equal(a.blastRadius.windowFailed, 30);
    assert.equal(a.blastRadius.failedShare, 0.5);
    assert.equal(a.blastRadius.faultedTrafficShare, 0.5);
    assert.equal(a.perCell['cell-1']?.during.failed, 30);
    assert.equal(a.perCell['cell-1']?.before.failed, 0);
    assert.equal(a.perCell['cell-1']?.during.codes.cell_unavailable, 30);
    const v = judge(a, { spillZero: true, blastWithinPoints: 2 });
    assert.ok(
      v.every((x) => x.pass),
      JSON.stringify(v),
    );
  });

  it('reports a failure in another cell as spill and fails the verdict', () => {
    const reqs = traffic(() => ({}));
    const victim = reqs.find((r) => r.owner === 'cell-2' && r.start > W.start);
    assert.ok(victim);
    victim.failed = true;
    victim.code = 'upstream_timeout';
    const a = analyze({ requests: reqs, failovers: [] }, W);
    assert.equal(a.spill.failed, 1);
    assert.deepEqual(a.spill.byCode, { upstream_timeout: 1 });
    const v = judge(a, { spillZero: true });
    assert.equal(v.find((x) => x.name.startsWith('spill'))?.pass, false);
  });

  it('counts failures in flight on a killed replica apart from spill', () => {
    const w: FaultWindow = { start: T0 + 3000, end: T0 + 6000, cells: [], killedReplica: 'router-1' };
    const reqs = traffic(() => ({}));
    // In flight at the kill: started before, ended at it.
    reqs.push(req({ start: T0 + 2990, ms: 12, replica: 'router-1', owner: 'cell-2', failed: true, status: 0, code: 'net_timeout' }));
    // Sent to the dead replica long after the kill: a real failure.
    reqs.push(req({ start: T0 + 4000, ms: 1, replica: 'router-1', owner: 'cell-2', failed: true, status: 0, code: 'net_timeout' }));
    const a = analyze({ requests: reqs, failovers: [] }, w);
    assert.equal(a.inFlight.failed, 1);
    assert.equal(a.spill.failed, 1);
    const v = judge(a, { zeroFailed: true });
    assert.equal(v.find((x) => x.name === 'failed requests')?.measured.startsWith('1'), true);
  });

  it('counts failures in flight on a replica killed later in the window, at its own kill time', () => {
    const w: FaultWindow = {
      start: T0 + 3000,
      end: T0 + 6000,
      cells: [],
      killedReplica: 'router-1',
      laterKills: [{ replica: 'envoy-2', at: T0 + 5000 }],
    };
    const reqs = traffic(() => ({}));
    // In flight on envoy-2 at its own kill (not at the window start).
    reqs.push(
      req({ start: T0 + 4995, ms: 8, replica: 'envoy-2', plane: 'envoy', owner: 'cell-2', failed: true, status: 0, code: 'net_reset' }),
    );
    // On envoy-2 at the window start, when only router-1 died: spill.
    reqs.push(
      req({ start: T0 + 2995, ms: 8, replica: 'envoy-2', plane: 'envoy', owner: 'cell-2', failed: true, status: 0, code: 'net_reset' }),
    );
    const a = analyze({ requests: reqs, failovers: [] }, w);
    assert.equal(a.inFlight.failed, 1);
    assert.equal(a.inFlight.replica, 'router-1, envoy-2');
    assert.equal(a.spill.failed, 1);
    // The gate outside the faulted cells sets in-flight failures apart as spill does: the one real spill fails it.
    const [gate] = gateVerdicts(a, [{ scope: 'other', maxShare: 0 }]);
    assert.ok(gate && !gate.pass && gate.measured.includes('(1 of'), gate?.measured);
  });

  it('measures time to isolate as the first bin from which the faulted cell answers fast', () => {
    // Slow (hung) for the first 800 ms of the fault, fast 503s afterwards.
    const reqs = traffic((t) =>
      t >= 3000 && t < 3800 ? { ms: 2000, failed: true } : t >= 3800 && t < 6000 ? { ms: 2, failed: true } : {},
    );
    const faulted = reqs.filter((r) => r.owner === 'cell-1');
    assert.equal(timeToIsolate(faulted, W, DEFAULT_ANALYSIS), 750);
    assert.equal(timeToIsolate(faulted, W, { ...DEFAULT_ANALYSIS, binMs: 100 }), 800);
    // Never fast: null.
    const hung = traffic((t) => (t >= 3000 && t < 6000 ? { ms: 3000, failed: true } : {})).filter((r) => r.owner === 'cell-1');
    assert.equal(timeToIsolate(hung, W, DEFAULT_ANALYSIS), null);
    // Hung until the fault ends: the last requests look fast only because the hang was released.
    const released = traffic((t) => (t >= 3000 && t < 6000 ? { ms: 6000 - t } : {})).filter((r) => r.owner === 'cell-1');
    assert.equal(timeToIsolate(released, W, DEFAULT_ANALYSIS), null);
  });

  it('holds "fast" to a fixed 250 ms: a busy machine (every cell slow at once) does not loosen it', () => {
    // From 4.5 s to 5 s every answer takes 400 ms, fast 503s of the faulted cell included.
    const busy = (t: number) => t >= 4500 && t < 5000;
    const reqs = traffic((t) => (t >= 3000 && t < 6000 ? { ms: busy(t) ? 400 : 2, failed: true } : {}));
    for (const r of reqs) if (r.owner === 'cell-2' && busy(r.start - T0)) r.ms = 400;
    const faulted = reqs.filter((r) => r.owner === 'cell-1');
    assert.equal(timeToIsolate(faulted, W, DEFAULT_ANALYSIS), 2000, 'isolated only once the slow bins are over');
    const a = analyze({ requests: reqs, failovers: [], planes: ['router'] }, W);
    assert.equal(a.timeToIsolateMs.router, 2000, 'the other cells being slow too changes nothing');
  });

  it('measures time to recover as the first bin after the fault with normal errors and latency', () => {
    const reqs = traffic((t) => (t >= 3000 && t < 7500 ? { failed: true } : {}));
    const faulted = reqs.filter((r) => r.owner === 'cell-1');
    const others = reqs.filter((r) => r.owner !== 'cell-1');
    assert.equal(timeToRecover(faulted, others, W, T0 + 10_000, DEFAULT_ANALYSIS), 1500);
    const never = traffic((t) => (t >= 3000 ? { failed: true } : {})).filter((r) => r.owner === 'cell-1');
    assert.equal(timeToRecover(never, [], W, T0 + 10_000, DEFAULT_ANALYSIS), null);
  });

  it('turns a tagged vegeta result into a request point', () => {
    const line = JSON.stringify({
      seq: 7,
      code: 503,
      timestamp: '2026-11-23T19:09:47.312833169Z',
      latency: 12_500_000,
      bytes_out: 0,
      bytes_in: 60,
      error: '503 Service Unavailable',
      body: Buffer.from('{"error":{"code":"cell_unavailable","message":"no endpoint"}}').toString('base64'),
      method: 'POST',
      url: 'http://127.0.0.1:1/v1/orders#n=3&m=nyc&o=cell-1&p=envoy&r=envoy-0&op=create&a=first',
      headers: { 'X-Cell-Id': ['cell-1'], 'Retry-After': ['1'] },
    });
    const r = parseResult(line);
    assert.ok(r);
    const p = requestPoint(r, ['cell-1']);
    assert.equal(p.start, Date.parse('2026-11-23T19:09:47.312Z') + 0.833169);
    assert.equal(p.ms, 12.5);
    assert.equal(p.end, p.start + 12.5);
    assert.deepEqual(
      [p.market, p.owner, p.cell, p.plane, p.replica, p.op, p.attempt, p.status, p.code, p.scope, p.failed],
      ['nyc', 'cell-1', 'cell-1', 'envoy', 'envoy-0', 'create', 'first', 503, 'cell_unavailable', 'faulted', true],
    );
    assert.equal(requestPoint(r, ['cell-2']).scope, 'other');
    const ok = parseResult(line.replace('"code":503', '"code":201'));
    assert.ok(ok);
    assert.equal(requestPoint(ok, []).failed, false, 'a 201 create succeeded');
  });

  it('names a request that got no HTTP answer by its transport failure', () => {
    const base = {
      seq: 1,
      code: 0,
      timestamp: '2026-11-23T19:09:47Z',
      latency: 1,
      bytes_out: 0,
      bytes_in: 0,
      body: null,
      method: 'GET',
      headers: null,
    };
    const point = (error: string) =>
      requestPoint(parseResult(JSON.stringify({ ...base, error, url: 'http://x/#m=a&o=cell-1&op=get' }))!, []);
    assert.equal(point('Get "http://x/": dial tcp 127.0.0.1:9: connect: connection refused').code, 'net_refused');
    assert.equal(point('Get "http://x/": context deadline exceeded (Client.Timeout exceeded while awaiting headers)').code, 'net_timeout');
    assert.equal(point('Get "http://x/": EOF').code, 'net_eof');
    assert.equal(point('Get "http://x/": read: connection reset by peer').code, 'net_reset');
    assert.ok(point('boom').failed);
    assert.equal(point('x').cell, '', 'no answer: no cell named');
    assert.equal(parseResult(JSON.stringify({ ...base, method: '', url: '', error: 'no targets to attack' })), undefined);
    assert.throws(() => parseResult(JSON.stringify({ ...base, url: 'x', error: '', latency: -1 })), /latency/);
  });

  it('counts a 2xx answer from a cell that did not own the market as a wrong-cell failure, per cell and plane', () => {
    const reqs = traffic(() => ({}));
    // Two successes of cell-1's market answered by cell-2 (one per plane), one with no x-cell-id at all.
    const [a1, a2, a3] = reqs.filter((r) => r.owner === 'cell-1' && r.start > W.start);
    assert.ok(a1 && a2 && a3);
    a1.cell = 'cell-2';
    a2.cell = 'cell-2';
    a2.plane = 'envoy';
    a3.cell = '';
    // A failure naming another cell is not a wrong-cell answer (only successes are checked).
    const failed = reqs.find((r) => r.owner === 'cell-2' && r.start > W.end);
    assert.ok(failed);
    Object.assign(failed, { cell: 'cell-1', status: 503, failed: true, code: 'cell_unavailable' });
    const a = analyze({ requests: reqs, failovers: [], planes: ['router', 'envoy'] }, W);
    assert.equal(a.wrongCell.count, 3);
    assert.deepEqual(a.wrongCell.byPlane, { router: 2, envoy: 1 });
    assert.deepEqual(a.wrongCell.byCell, { 'cell-1': { router: 2, envoy: 1 } });
    assert.equal(a.wrongCell.checkedByPlane.envoy, 1);
    assert.equal(a.wrongCell.checkedByPlane.router, 200 - 2, 'every 2xx: all but the 503 and the envoy one');
    assert.equal(a.perCell['cell-1']?.during.codes.wrong_cell, 3, 'counted as failures with their own code');
    assert.equal(a.perCell['cell-1']?.during.failed, 3);
    assert.deepEqual(
      a.wrongCell.examples.map((e) => e.answered),
      ['cell-2', 'cell-2', ''],
    );
  });

  it('accepts either owner of a moved market inside the window only, the new one after it', () => {
    const moved: FaultWindow = { ...W, cells: [], moved: { a: 'cell-3' } };
    const at = (t: number, cell: string) => req({ start: T0 + t, market: 'a', owner: 'cell-1', cell });
    assert.deepEqual(ownersWhenSent(at(1000, 'x'), moved), ['cell-1']);
    assert.deepEqual(ownersWhenSent(at(4000, 'x'), moved), ['cell-1', 'cell-3']);
    assert.deepEqual(ownersWhenSent(at(7000, 'x'), moved), ['cell-3']);
    const cases: [number, string, boolean][] = [
      [1000, 'cell-1', false],
      [1000, 'cell-3', true], // the new owner before the move started
      [4000, 'cell-1', false],
      [4000, 'cell-3', false],
      [4000, 'cell-2', true],
      [7000, 'cell-3', false],
      [7000, 'cell-1', true], // the old owner after the move ended
    ];
    for (const [t, cell, wrong] of cases) assert.equal(isWrongCell(at(t, cell), moved), wrong, `${cell} at +${t} ms`);
    assert.equal(isWrongCell(at(1000, 'cell-3'), { ...moved, moved: {} }), true, 'a market not moved has one owner');
    assert.equal(isWrongCell({ ...at(7000, 'cell-1'), status: 409 }, moved), false, 'only 2xx answers are checked');
  });

  it('lists every plane and planned cell, with or without requests', () => {
    const a = analyze(
      { requests: traffic(() => ({})), failovers: [], planes: ['router', 'envoy'], cells: ['cell-1', 'cell-2', 'cell-9'] },
      W,
    );
    assert.deepEqual(a.planes, ['router', 'envoy']);
    assert.deepEqual(a.cells, ['cell-1', 'cell-2', 'cell-9']);
    assert.equal(a.faultedPerPlane.envoy?.during.requests, 0);
    assert.equal(a.faultedPerPlane.router?.during.requests, 30);
    assert.equal(a.timeToIsolateMs.envoy, null);
    assert.deepEqual(a.wrongCell.byPlane, { router: 0, envoy: 0 });
  });
});
