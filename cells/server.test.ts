import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { startConsul } from '../infra/harness/consul.js';
import { ConsulClient } from '../shared/consul/client.js';
import { ProcessScope } from '../infra/process.js';
import { client, eventually, postOrder, startCellProcess, tempDir } from './testing.js';

const ROOT = new URL('..', import.meta.url).pathname;

describe('cell process', () => {
  it('registers in Consul with meta and a passing /readyz check, and deregisters on SIGTERM (exit 0)', async () => {
    const tmp = tempDir();
    await new ProcessScope()
      .run(async (scope) => {
        const consul = await startConsul();
        scope.adopt(consul.proc);
        const cell = await startCellProcess(scope, {
          id: 'cell-r',
          dataDir: tmp.dir,
          color: 'green',
          consul: consul.url,
          args: ['--version', 'v7'],
        });
        const entries = await eventually(
          async () => {
            const { value: list } = await new ConsulClient({ url: consul.url }).health.service('cellsim-cell', { passing: true });
            return list.length > 0 ? list : undefined;
          },
          15_000,
          'a passing cellsim-cell instance',
        );
        const svc = entries[0]!.Service;
        assert.equal(svc.ID, `cellsim-cell-cell-r-green-${cell.port}`);
        assert.equal(svc.Address, '127.0.0.1');
        assert.equal(svc.Port, cell.port);
        assert.deepEqual(svc.Meta, { cell: 'cell-r', version: 'v7', color: 'green' });
        // works end to end while registered
        const res = await postOrder(client(cell.url), 'm1', 'k1');
        assert.equal(res.status, 201);
        assert.equal(res.headers.get('x-cell-id'), 'cell-r');
        cell.proc.signal('SIGTERM');
        assert.equal(await cell.proc.exited, 0);
        const services = await new ConsulClient({ url: consul.url }).agent.services();
        assert.equal(Object.keys(services).filter((k) => k.startsWith('cellsim-cell-')).length, 0);
      })
      .finally(tmp.cleanup);
  });

  it('a crash fault ends the process with a non-zero exit; a restart on the same data serves the same orders', async () => {
    const tmp = tempDir();
    await new ProcessScope()
      .run(async (scope) => {
        const cell = await startCellProcess(scope, { id: 'cell-c', dataDir: tmp.dir });
        const c = client(cell.url);
        const created = (await (await postOrder(c, 'm1', 'k1')).json()) as { id: string };
        assert.equal(
          (
            await c('/admin/faults', {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ kind: 'crash', durationMs: 1000 }),
            })
          ).status,
          201,
        );
        const code = await cell.proc.exited;
        assert.notEqual(code, 0);
        const again = await startCellProcess(scope, { id: 'cell-c', dataDir: tmp.dir, port: cell.port, name: 'cell-c-restarted' });
        assert.equal((await client(again.url)(`/v1/orders/${created.id}`)).status, 200);
      })
      .finally(tmp.cleanup);
  });

  it('on SIGTERM turns unready, keeps serving through the drain delay, finishes the request in flight, exits 0', async () => {
    const tmp = tempDir();
    await new ProcessScope()
      .run(async (scope) => {
        const cell = await startCellProcess(scope, { id: 'cell-g', dataDir: tmp.dir });
        const c = client(cell.url);
        const fault = { kind: 'latency', latencyMs: 800, durationMs: 60_000, route: 'POST /v1/orders' };
        await c('/admin/faults', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fault) });
        const inflight = postOrder(c, 'm1', 'slow');
        await new Promise((r) => setTimeout(r, 200));
        cell.proc.signal('SIGTERM');
        // During the drain delay: not ready (routers and Consul move away) but still serving.
        await eventually(async () => ((await c('/readyz')).status === 503 ? true : undefined), 900, 'readyz 503 while draining');
        assert.equal((await postOrder(c, 'm2', 'during-drain')).status, 201);
        const res = await inflight;
        assert.equal(res.status, 201);
        assert.equal(await cell.proc.exited, 0);
      })
      .finally(tmp.cleanup);
  });

  it('has --help, and refuses a bad --defect with a clear message', () => {
    const help = spawnSync(process.execPath, ['bin/cellctl.js', 'cell', '--help'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(help.status, 0);
    for (const flag of [
      '--id',
      '--port',
      '--data',
      '--consul',
      '--no-consul',
      '--color',
      '--cell-admin-token-file',
      '--partitions',
      '--workers',
      '--defect',
    ]) {
      assert.ok(help.stdout.includes(flag), `--help lists ${flag}`);
    }
    const bad = spawnSync(
      process.execPath,
      ['bin/cellctl.js', 'cell', '--id', 'c', '--port', '0', '--data', '/tmp/x', '--defect', '{"errorRate":3}'],
      {
        cwd: ROOT,
        encoding: 'utf8',
      },
    );
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--defect: errorRate/);
  });
});
