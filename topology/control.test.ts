import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { describe, it } from 'node:test';
import { createLogger } from '../shared/logger.js';
import { ensureCertificates, rotateCertificates, tlsFiles, topologyLeaves } from '../shared/pki/store.js';
import { HttpError, UnknownCellError } from '../shared/errors.js';
import { SupervisorClient } from '../control-plane/rollout/supervisor-client.js';
import { controlApp, startControlServer, type Supervisor } from './control.js';

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
    scaleDelivery: () => Promise.reject(err),
    startDelivery: () => Promise.reject(err),
    stopDelivery: () => Promise.reject(err),
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

describe('control channel: scaling a delivery service', () => {
  const scale = async (sup: Supervisor, body: unknown) => {
    const res = await controlApp(sup, 't0ken').request('/cells/cell-1/delivery', {
      method: 'PUT',
      headers: { authorization: 'Bearer t0ken', 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { error?: { code: string }; to?: number } };
  };

  it('takes 2 to 8 instances, never as a color; refuses anything else (400) without calling the supervisor', async () => {
    const calls: [string, number][] = [];
    const sup: Supervisor = {
      ...failingSupervisor(new Error('not called')),
      scaleDelivery: async (cell, n) => (calls.push([cell, n]), { cell, from: 2, to: n, started: [], stopped: [] }),
    };
    for (const bad of [{ instances: 1 }, { instances: 9 }, { instances: 2.5 }, { instances: '3' }, {}, { instances: 3, x: 1 }]) {
      const r = await scale(sup, bad);
      assert.deepEqual([r.status, r.body.error?.code], [400, 'invalid_request'], JSON.stringify(bad));
    }
    assert.deepEqual(calls, []);
    const ok = await scale(sup, { instances: 3 });
    assert.deepEqual([ok.status, ok.body.to], [200, 3]);
    assert.deepEqual(calls, [['cell-1', 3]]);
  });

  it('answers 404 for an unknown cell and passes a refusal (409 conflict) through', async () => {
    assert.equal((await scale(failingSupervisor(new UnknownCellError('cell-1')), { instances: 3 })).status, 404);
    const r = await scale(failingSupervisor(new HttpError('conflict', 'not split')), { instances: 3 });
    assert.deepEqual([r.status, r.body.error?.code], [409, 'conflict']);
  });
});

describe("control channel: a delivery rollout's steps", () => {
  const call = (sup: Supervisor, method: string, path: string, body?: unknown) =>
    controlApp(sup, 't0ken').request(path, {
      method,
      headers: { authorization: 'Bearer t0ken', 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it('starts and stops one instance by number, refusing a bad number or version (400) without calling the supervisor', async () => {
    const calls: unknown[][] = [];
    const sup: Supervisor = {
      ...failingSupervisor(new Error('not called')),
      startDelivery: async (...a) => (calls.push(['start', ...a]), { spec: { name: 'cell-1.delivery-3', kind: 'delivery' } } as never),
      stopDelivery: async (...a) => void calls.push(['stop', ...a]),
    };
    for (const [method, path, body] of [
      ['PUT', '/cells/cell-1/delivery/0', { version: 'v2' }],
      ['PUT', '/cells/cell-1/delivery/abc', { version: 'v2' }],
      ['PUT', '/cells/cell-1/delivery/100', { version: 'v2' }],
      ['PUT', '/cells/cell-1/delivery/3', { version: 'V 2' }],
      ['PUT', '/cells/cell-1/delivery/3', {}],
      ['DELETE', '/cells/cell-1/delivery/x', undefined],
    ] as const) {
      const res = await call(sup, method, path, body);
      assert.equal(res.status, 400, `${method} ${path} ${JSON.stringify(body)}`);
    }
    assert.deepEqual(calls, []);
    const defect = { route: 'delivery', errorRate: 1 };
    assert.equal((await call(sup, 'PUT', '/cells/cell-1/delivery/3', { version: 'v2', defect })).status, 200);
    assert.equal((await call(sup, 'DELETE', '/cells/cell-1/delivery/1')).status, 200);
    assert.deepEqual(calls, [
      ['start', 'cell-1', 3, 'v2', defect],
      ['stop', 'cell-1', 1],
    ]);
  });

  it('answers 404 for an unknown cell and passes a refusal (409 conflict) through', async () => {
    assert.equal((await call(failingSupervisor(new UnknownCellError('cell-1')), 'DELETE', '/cells/cell-1/delivery/1')).status, 404);
    const res = await call(failingSupervisor(new HttpError('conflict', 'not split')), 'PUT', '/cells/cell-1/delivery/3', { version: 'v2' });
    assert.equal(res.status, 409);
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

  it("passes a cell that did not stop through with its cause (503 cell_stop_failed), up to the control plane's client", async () => {
    const cause = 'cell-7 did not stop: removing host cell-7: ip netns delete cs-1-cell-7: Device or resource busy';
    const sup = { ...failingSupervisor(new Error('x')), removeCell: () => Promise.reject(new HttpError('cell_stop_failed', cause)) };
    const res = await call(sup, 'DELETE', '/cells/cell-7');
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { error: { code: 'cell_stop_failed', message: cause } });
    const client = new SupervisorClient('http://supervisor', 't0ken', (url, init) =>
      Promise.resolve(controlApp(sup, 't0ken').request(url, init)),
    );
    await assert.rejects(client.removeCell('cell-7'), (err: unknown) => {
      assert.ok(err instanceof HttpError, `an HttpError, not ${String(err)}`);
      assert.deepEqual([err.code, err.status, err.message], ['cell_stop_failed', 503, `supervisor: ${cause}`]);
      return true;
    });
  });

  it("passes a cell that did not start through with its cause (503 cell_start_failed), up to the control plane's client", async () => {
    const cause =
      'cell-7 did not start: making host cell-7 (10.77.5.107): its Consul agent consul.cell-7: consul.cell-7 not ready after 60000 ms';
    const sup = { ...failingSupervisor(new Error('x')), addCell: () => Promise.reject(new HttpError('cell_start_failed', cause)) };
    const res = await call(sup, 'POST', '/cells/cell-7', { version: 'v2' });
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { error: { code: 'cell_start_failed', message: cause } });
    const client = new SupervisorClient('http://supervisor', 't0ken', (url, init) =>
      Promise.resolve(controlApp(sup, 't0ken').request(url, init)),
    );
    await assert.rejects(client.addCell('cell-7', 'v2'), (err: unknown) => {
      assert.ok(err instanceof HttpError);
      assert.deepEqual([err.code, err.status, err.message], ['cell_start_failed', 503, `supervisor: ${cause}`]);
      return true;
    });
    // Any other failure stays a generic 500, and the client says only that.
    const generic = new SupervisorClient('http://supervisor', 't0ken', (url, init) =>
      Promise.resolve(controlApp(failingSupervisor(new Error('secret detail')), 't0ken').request(url, init)),
    );
    await assert.rejects(
      generic.addCell('cell-7', 'v2'),
      (err: Error) => !(err instanceof HttpError) && /answered 500/.test(err.message) && !err.message.includes('secret'),
    );
  });

  it('removes a cell it runs', async () => {
    const removed: string[] = [];
    const sup = { ...failingSupervisor(new Error('x')), removeCell: async (c: string) => void removed.push(c) };
    const res = await call(sup, 'DELETE', '/cells/cell-7');
    assert.equal(res.status, 200);
    assert.deepEqual(removed, ['cell-7']);
  });
});

describe('control channel over HTTPS (cellctl up --hosts --tls)', () => {
  it('serves the next connections with a rotated supervisor certificate, without a restart', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cellsim-control-tls-'));
    const dir = join(root, 'tls');
    const leaves = topologyLeaves([]);
    await ensureCertificates(dir, leaves);
    const files = tlsFiles(dir, 'supervisor');
    const serialOf = () => new X509Certificate(readFileSync(files.cert)).serialNumber;
    const server = await startControlServer(
      failingSupervisor(new Error('not called')),
      0,
      't0ken',
      createLogger('test'),
      '127.0.0.1',
      files,
    );
    // The serial the server presents on a new connection (the agent keeps none: each call is a new handshake).
    const served = () =>
      new Promise<string>((resolve, reject) => {
        const req = httpsRequest(
          { host: '127.0.0.1', port: server.port, path: '/healthz', ca: readFileSync(files.ca), servername: 'localhost', agent: false },
          (res) => {
            resolve((res.socket as TLSSocket).getPeerCertificate().serialNumber);
            res.resume();
          },
        );
        req.on('error', reject);
        req.end();
      });
    try {
      const before = serialOf();
      assert.equal((await served()).toUpperCase(), before.toUpperCase());
      await rotateCertificates(dir, leaves, ['supervisor']);
      const after = serialOf();
      assert.notEqual(after, before);
      let seen = '';
      for (let i = 0; i < 50 && seen.toUpperCase() !== after.toUpperCase(); i++) {
        await new Promise((r) => setTimeout(r, 200));
        seen = await served();
      }
      assert.equal(seen.toUpperCase(), after.toUpperCase(), 'the rotated certificate is served within 10 s');
    } finally {
      await server.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
