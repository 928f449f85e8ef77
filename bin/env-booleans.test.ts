/**
 * Boolean options read from CELLSIM_* variables, through real `cellctl` processes: a flag's
 * variable takes true/false/1/0 only (`CELLSIM_DRY_RUN=0` leaves dry-run off, any other value is
 * a usage error before anything is sent), and test hooks and drill sabotage are never read from
 * the environment (docs/contracts.md §CLI).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startConsul } from '../infra/harness/consul.js';
import { freePorts } from '../infra/ports.js';
import { ProcessScope } from '../infra/process.js';
import { ENV_USAGE_EXIT_CODE } from '../shared/cli.js';
import { SABOTAGE_FLAGS } from '../loadtest/drills/sabotage.js';

const CELLCTL = join(dirname(fileURLToPath(import.meta.url)), 'cellctl.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `cellctl args` to its end with `env` added (no CELLSIM_* variable of this process leaks in). */
function cellctl(args: string[], env: Record<string, string>): Promise<Run> {
  const keep = new Set(['CELLSIM_TEST_RUN', 'CELLSIM_CACHE', 'CELLSIM_LOG_LEVEL']);
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CELLSIM_') || keep.has(k)));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CELLCTL, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const run: Run = { code: null, stdout: '', stderr: '' };
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (b: Buffer) => (run.stdout += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (run.stderr += b.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ ...run, code });
    });
  });
}

describe('boolean options from CELLSIM_* variables (real cellctl processes)', () => {
  // A stand-in admin API that records what `cellctl drain` sends.
  const calls: { method: string; url: string; body: unknown }[] = [];
  let admin: Server;
  let adminUrl = '';
  let data = '';

  before(async () => {
    data = mkdtempSync(join(tmpdir(), 'cellsim-env-booleans-'));
    admin = createServer((req, res) => {
      let text = '';
      req.on('data', (b: Buffer) => (text += b.toString('utf8')));
      req.on('end', () => {
        calls.push({ method: req.method ?? '', url: req.url ?? '', body: text ? (JSON.parse(text) as unknown) : undefined });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ cell: { id: 'cell-1', state: 'draining' } }));
      });
    });
    await new Promise<void>((resolve) => admin.listen(0, '127.0.0.1', resolve));
    adminUrl = `http://127.0.0.1:${(admin.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise<void>((resolve) => admin.close(() => resolve()));
    rmSync(data, { recursive: true, force: true });
  });

  const drain = (env: Record<string, string>) => cellctl(['drain', 'cell-1', '--data', data, '--control-plane', adminUrl], env);

  it('CELLSIM_DRY_RUN=0 (and CELLSIM_JSON=false) leave dry-run and JSON off: drain sends a real mutation', async () => {
    calls.length = 0;
    const r = await drain({ CELLSIM_DRY_RUN: '0', CELLSIM_JSON: 'false' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(calls, [{ method: 'POST', url: '/admin/cells/cell-1/drain', body: {} }]);
    assert.equal(r.stdout, 'cell-1 is draining\n');
  });

  it('CELLSIM_DRY_RUN=1 (and CELLSIM_JSON=true) turn them on', async () => {
    calls.length = 0;
    const r = await drain({ CELLSIM_DRY_RUN: '1', CELLSIM_JSON: 'true' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(calls, [{ method: 'POST', url: '/admin/cells/cell-1/drain', body: { dryRun: true } }]);
    assert.deepEqual(JSON.parse(r.stdout), { cell: { id: 'cell-1', state: 'draining' } });
  });

  it('CELLSIM_DRY_RUN=maybe is a usage error naming the variable and the accepted values; nothing is sent', async () => {
    calls.length = 0;
    const r = await drain({ CELLSIM_DRY_RUN: 'maybe' });
    assert.equal(r.code, ENV_USAGE_EXIT_CODE, r.stderr);
    assert.equal(r.stderr, 'error: CELLSIM_DRY_RUN="maybe" is not a boolean: the variable of --dry-run takes true, false, 1 or 0\n');
    assert.equal(r.stdout, '');
    assert.deepEqual(calls, []);
  });

  it('CELLSIM_WAIT=nope fails `migrate` the same way (a negated flag, --no-wait, reads CELLSIM_WAIT)', async () => {
    calls.length = 0;
    const r = await cellctl(['migrate', 'm-1', '--to', 'cell-2', '--data', data, '--control-plane', adminUrl], { CELLSIM_WAIT: 'nope' });
    assert.equal(r.code, ENV_USAGE_EXIT_CODE, r.stderr);
    assert.match(r.stderr, /^error: CELLSIM_WAIT="nope" is not a boolean: the variable of --no-wait takes true, false, 1 or 0\n$/);
    assert.deepEqual(calls, []);
  });

  it("CELLSIM_ROLE=order (cellctl cell's --role) does not reach `cellctl rollout --role`: the rollout is sent", async () => {
    calls.length = 0;
    const r = await cellctl(['rollout', 'v2', '--dry-run', '--data', data, '--control-plane', adminUrl], { CELLSIM_ROLE: 'order' });
    assert.doesNotMatch(r.stderr, /argument 'order' is invalid/);
    assert.equal(calls.length, 1, r.stderr);
    assert.equal(calls[0]!.url, '/admin/rollouts');
    assert.notEqual((calls[0]!.body as { role?: string }).role, 'order');
  });

  it("binds no drill sabotage switch to a variable: `cellctl drill --help` names none (its other flags' are there)", async () => {
    // Running a drill would start a topology; its --help shows every variable the command reads.
    const r = await cellctl(['drill', '--help'], {});
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /CELLSIM_JSON\)/);
    for (const flag of Object.values(SABOTAGE_FLAGS)) {
      assert.match(r.stdout, new RegExp(`${flag} +sabotage`), `${flag} is listed`);
    }
    assert.doesNotMatch(r.stdout, /CELLSIM_(FAULT|ROUTER|STALE)_/);
  });

  it('CELLSIM_TEST_HOOKS=1 does not mount the control plane test hooks (POST /xds/test/invalid is 404); --test-hooks does', async () => {
    await new ProcessScope().run(async (scope) => {
      const consul = await startConsul();
      scope.adopt(consul.proc);
      const start = async (id: string, extra: string[], env: Record<string, string>) => {
        const [http, xds] = (await freePorts(2)) as [number, number];
        await scope.start({
          name: `control-plane-${id}`,
          command: process.execPath,
          args: [CELLCTL, 'control-plane', '--port', String(http), '--xds-port', String(xds), '--consul', consul.url, '--id', id, ...extra],
          env: { CELLSIM_LOG_LEVEL: 'warn', ...env },
          ready: { http: `http://127.0.0.1:${http}/readyz`, status: 200 },
          readyTimeoutMs: 30_000,
        });
        return `http://127.0.0.1:${http}`;
      };
      const fromEnv = await start('cp-env-hooks', [], { CELLSIM_TEST_HOOKS: '1' });
      const res = await fetch(`${fromEnv}/xds/test/invalid`, { method: 'POST' });
      assert.equal(res.status, 404, await res.text());
      // The same request where the hooks are mounted, by the flag (the variable cannot switch them off either).
      const fromFlag = await start('cp-flag-hooks', ['--test-hooks'], { CELLSIM_TEST_HOOKS: '0' });
      const hooked = await fetch(`${fromFlag}/xds/test/invalid?node=none`, { method: 'POST' });
      assert.equal(hooked.status, 201, await hooked.text());
    });
  });
});
