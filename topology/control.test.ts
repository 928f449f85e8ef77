import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnknownCellError } from '../shared/errors.js';
import { controlApp, type Supervisor } from './control.js';

/** A supervisor whose startCell fails with `err`. */
function failingSupervisor(err: Error): Supervisor {
  return {
    children: new Map(),
    resolve: () => [],
    describe: () => ({}),
    startCell: () => Promise.reject(err),
    stopCell: () => Promise.resolve(),
    addCell: () => Promise.reject(err),
    removeCell: () => Promise.reject(err),
    scheduleWrite: () => undefined,
  };
}

async function startCell(sup: Supervisor): Promise<{ status: number; code: string }> {
  const res = await controlApp(sup, 't0ken').request('/cells/cell-9/blue', {
    method: 'PUT',
    headers: { authorization: 'Bearer t0ken', 'content-type': 'application/json' },
    body: JSON.stringify({ version: 'v2' }),
  });
  const body = (await res.json()) as { error: { code: string } };
  return { status: res.status, code: body.error.code };
}

describe('control channel: starting a cell', () => {
  it('answers 404 not_found for an unknown cell (the unknown_cell code)', async () => {
    assert.deepEqual(await startCell(failingSupervisor(new UnknownCellError('cell-9'))), { status: 404, code: 'not_found' });
  });

  it('answers 500 internal for any other failure, whatever its message says', async () => {
    assert.deepEqual(await startCell(failingSupervisor(new Error("unknown cell 'cell-9'"))), { status: 500, code: 'internal' });
  });
});

describe('control channel: its own token', () => {
  const sup = failingSupervisor(new Error('boom at /secret/path'));
  const get = (headers: Record<string, string>) => controlApp(sup, 'supervisor-t0ken-0123').request('/children', { headers });

  it('refuses a request without the supervisor token (401 unauthorized, JSON), and takes it', async () => {
    for (const headers of [{}, { authorization: 'Bearer operator-t0ken-0123' }, { authorization: 'Basic x' }] as Record<string, string>[]) {
      const res = await get(headers);
      assert.equal(res.status, 401, JSON.stringify(headers));
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'unauthorized');
    }
    assert.equal((await get({ authorization: 'Bearer supervisor-t0ken-0123' })).status, 200);
  });

  it('never echoes a failure in a 500', async () => {
    const res = await controlApp(sup, 't0ken').request('/cells/cell-9/blue', {
      method: 'PUT',
      headers: { authorization: 'Bearer t0ken', 'content-type': 'application/json' },
      body: JSON.stringify({ version: 'v2' }),
    });
    assert.equal(res.status, 500);
    assert.doesNotMatch(await res.text(), /boom|secret/);
  });
});

describe('control channel: adding and removing a cell', () => {
  const call = (sup: Supervisor, method: string, path: string, body?: unknown) =>
    controlApp(sup, 't0ken').request(path, {
      method,
      headers: { authorization: 'Bearer t0ken', 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it('refuses an add without a valid version (400 invalid_request) before asking the supervisor', async () => {
    let asked = false;
    const sup = { ...failingSupervisor(new Error('x')), addCell: () => ((asked = true), Promise.reject(new Error('x'))) };
    for (const body of [undefined, {}, { version: '../v2' }, { version: 'v2', defect: {} }]) {
      const res = await call(sup, 'POST', '/cells/cell-7', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'invalid_request');
    }
    assert.equal(asked, false);
  });

  it('answers 404 not_found when removing a cell the supervisor does not run', async () => {
    const res = await call(failingSupervisor(new UnknownCellError('cell-7')), 'DELETE', '/cells/cell-7');
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not_found');
  });

  it('removes a cell it runs', async () => {
    const removed: string[] = [];
    const sup = { ...failingSupervisor(new Error('x')), removeCell: async (c: string) => void removed.push(c) };
    const res = await call(sup, 'DELETE', '/cells/cell-7');
    assert.equal(res.status, 200);
    assert.deepEqual(removed, ['cell-7']);
  });
});
