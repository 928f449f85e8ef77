/** A cell's shift by hand without Consul: the CAS write, the clear, the dry run, and every refusal writing nothing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appWith, cell, fakeDeps, json, post } from './fakes.test-helper.js';
import { shiftRoutes } from './shift.js';

function setup() {
  const f = fakeDeps();
  f.kv.set(f.layout.cellKey('cell-1'), cell('cell-1', { activeColor: 'blue' }));
  f.kv.set(f.layout.cellKey('cell-2'), cell('cell-2', { activeColor: 'blue', shift: { color: 'green', percent: 10 } }));
  return { ...f, app: appWith(f.deps, shiftRoutes) };
}

describe('admin cell shift', () => {
  it('writes the shift with a CAS write, audited; clears it; a clear of no shift writes nothing', async () => {
    const t = setup();
    const index = t.kv.items.get('t/cells/cell-1')?.modifyIndex;
    const res = await post(t.app, '/cells/cell-1/shift', { color: 'green', percent: 12.5 });
    assert.equal(res.status, 200);
    const after = cell('cell-1', { activeColor: 'blue', shift: { color: 'green', percent: 12.5 } });
    assert.deepEqual(await json(res), { cell: after });
    assert.deepEqual(t.kv.puts, [{ key: 't/cells/cell-1', value: after, cas: index, ok: true }]);
    assert.deepEqual(t.audit[0], {
      who: 'alice',
      action: 'shift',
      target: 'cell-1',
      params: { color: 'green', percent: 12.5 },
      before: cell('cell-1', { activeColor: 'blue' }),
      after,
      result: 'ok',
    });
    const cleared = await post(t.app, '/cells/cell-2/shift', { clear: true });
    assert.deepEqual(await json(cleared), { cell: cell('cell-2', { activeColor: 'blue' }) });
    assert.deepEqual(t.kv.value('t/cells/cell-2'), cell('cell-2', { activeColor: 'blue' }));
    assert.equal(t.audit[1]?.action, 'shift --clear');
    const again = await post(t.app, '/cells/cell-2/shift', { clear: true });
    assert.deepEqual(await json(again), { cell: cell('cell-2', { activeColor: 'blue' }), unchanged: true });
    assert.equal(t.kv.puts.length, 2);
  });

  it('a dry run answers the new record and writes nothing', async () => {
    const t = setup();
    const res = await post(t.app, '/cells/cell-1/shift', { color: 'green', percent: 1, dryRun: true });
    assert.deepEqual(await json(res), {
      dryRun: true,
      cell: cell('cell-1', { activeColor: 'blue', shift: { color: 'green', percent: 1 } }),
    });
    assert.equal(t.audit[0]?.action, 'shift (dry run)');
    assert.equal(t.audit[0]?.result, 'dry-run');
    assert.deepEqual(t.kv.puts, []);
  });

  it('refuses bad input in the error shape and writes nothing', async () => {
    const t = setup();
    const cases: [string, unknown, number, string][] = [
      ['/cells/cell-1/shift', { color: 'green' }, 400, 'invalid_request'],
      ['/cells/cell-1/shift', { color: 'green', percent: 0 }, 400, 'invalid_request'],
      ['/cells/cell-1/shift', { color: 'green', percent: 101 }, 400, 'invalid_request'],
      ['/cells/cell-1/shift', { color: 'green', percent: 1.234 }, 400, 'invalid_request'],
      ['/cells/cell-1/shift', { color: 'red', percent: 5 }, 400, 'invalid_request'],
      ['/cells/cell-1/shift', { color: 'green', percent: 5, clear: true }, 400, 'invalid_request'],
      ['/cells/cell-1/shift', { clear: false }, 400, 'invalid_request'],
      // The active color: a shift goes to the other one.
      ['/cells/cell-1/shift', { color: 'blue', percent: 5 }, 400, 'invalid_request'],
      ['/cells/Cell_1/shift', { clear: true }, 400, 'invalid_request'],
      ['/cells/cell-9/shift', { clear: true }, 404, 'not_found'],
    ];
    for (const [path, b, status, code] of cases) {
      const res = await post(t.app, path, b);
      assert.equal(res.status, status, `${path} ${JSON.stringify(b)}`);
      const got = await json<{ error: { code: string; message: string } }>(res);
      assert.equal(got.error.code, code, `${path} ${JSON.stringify(b)}: ${got.error.message}`);
    }
    assert.deepEqual(t.kv.puts, []);
    assert.deepEqual(
      t.audit.map((a) => [a.action, a.result]),
      [['shift', 'refused']],
      'only the refusal past input checks (the active color) is audited',
    );
  });

  it('refuses while a rollout runs (409 cell_busy), and when the record changed meanwhile (409 conflict)', async () => {
    const t = setup();
    t.rollouts.running = () => ({ id: 'ro-1', version: 'v2' });
    const busy = await post(t.app, '/cells/cell-1/shift', { color: 'green', percent: 5 });
    assert.equal(busy.status, 409);
    assert.equal((await json<{ error: { code: string } }>(busy)).error.code, 'cell_busy');
    t.rollouts.running = () => undefined;
    const read = t.kv.getJson.bind(t.kv);
    t.kv.getJson = async (schema, key) => {
      const r = await read(schema, key);
      t.kv.set(key, r?.value); // another writer right after our read
      return r;
    };
    const raced = await post(t.app, '/cells/cell-1/shift', { color: 'green', percent: 5 });
    assert.equal(raced.status, 409);
    assert.equal((await json<{ error: { code: string } }>(raced)).error.code, 'conflict');
    assert.deepEqual(
      t.kv.puts.map((p) => p.ok),
      [false],
    );
  });
});
