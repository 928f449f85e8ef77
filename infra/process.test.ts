import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ProcessScope, ProcessStartError, startProcess } from './process.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('process harness', () => {
  it('stops every process of a scope when the body fails, children included', async () => {
    const scope = new ProcessScope();
    let pid = -1;
    await assert.rejects(
      scope.run(async (s) => {
        const p = await s.start({ name: 'sleeper', command: 'sleep', args: ['300'] });
        pid = p.pid;
        assert.ok(alive(pid));
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(alive(pid), false);
  });

  it('reports the output of a process that exits before it is ready', async () => {
    await assert.rejects(
      startProcess({
        name: 'failing',
        command: 'bash',
        args: ['-c', 'echo no-such-config >&2; exit 3'],
        ready: { http: 'http://127.0.0.1:1/' },
        readyTimeoutMs: 3000,
      }),
      /failing did not start[\s\S]*no-such-config/,
    );
  });

  it('rejects a failed start with a ProcessStartError holding the code, the exit code and the output', async () => {
    await assert.rejects(
      startProcess({
        name: 'exits',
        command: 'bash',
        args: ['-c', 'echo bind: address taken >&2; exit 4'],
        // A readiness that never comes: the start must see the exit (with none, it resolves at once).
        ready: { http: 'http://127.0.0.1:1/' },
        readyTimeoutMs: 3000,
      }),
      (err: unknown) =>
        err instanceof ProcessStartError &&
        err.code === 'process_start_failed' &&
        err.exitCode === 4 &&
        err.output.includes('bind: address taken'),
    );
  });

  it('documents the code process_start_failed in docs/errors.md', () => {
    assert.match(readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8'), /\|\s*`process_start_failed`\s*\|/);
  });

  it('kills the child when the test process dies without cleaning up', async () => {
    // A parent that starts a harness process and is then SIGKILLed: the watchdog must reap the child.
    const parent = await startProcess({
      name: 'parent',
      command: process.execPath,
      args: [
        '--import',
        'tsx',
        '-e',
        `import('${new URL('./process.ts', import.meta.url).pathname}').then(async (m) => { const p = await m.startProcess({ name: 'orphan', command: 'sleep', args: ['300'] }); console.log('CHILD ' + p.pid); setInterval(() => {}, 1000); });`,
      ],
      ready: { logLine: /CHILD \d+/ },
    });
    const childPid = Number(/CHILD (\d+)/.exec(parent.output())?.[1]);
    assert.ok(alive(childPid));
    await parent.kill();
    const deadline = Date.now() + 5000;
    while (alive(childPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(alive(childPid), false, 'orphaned child was reaped');
  });
});
