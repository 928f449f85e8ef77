/**
 * The CLI's output contract: stdout holds only what a command prints for its caller (with
 * `--json`, exactly one JSON document) and every log line goes to stderr. Real `cellctl`
 * processes, no mocks.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TOOLS } from '../infra/doctor.js';
import { freePorts } from '../infra/ports.js';

const CELLCTL = join(dirname(fileURLToPath(import.meta.url)), 'cellctl.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `cellctl args` to its end, keeping stdout and stderr apart. With `stopWhen`, once it
 * holds and `beforeStop` has resolved, the process is sent SIGTERM.
 */
function cellctl(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  stopWhen?: (r: Run) => boolean,
  beforeStop?: () => Promise<unknown>,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CELLCTL, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const run: Run = { code: null, stdout: '', stderr: '' };
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    let stopping = false;
    const check = () => {
      if (stopping || !stopWhen?.(run)) return;
      stopping = true;
      void (beforeStop?.() ?? Promise.resolve()).finally(() => child.kill('SIGTERM'));
    };
    child.stdout.on('data', (b: Buffer) => {
      run.stdout += b.toString('utf8');
      check();
    });
    child.stderr.on('data', (b: Buffer) => {
      run.stderr += b.toString('utf8');
      check();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ ...run, code });
    });
  });
}

/** The JSON log lines of a stream (pino: one object per line). */
function logLines(text: string): { component?: string; msg?: string }[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { component?: string; msg?: string });
}

describe('cellctl output: one JSON document on stdout, logs on stderr', () => {
  it('doctor --json prints exactly one JSON document, with a version and licence per tool', async () => {
    const r = await cellctl(['doctor', '--json']);
    // JSON.parse of the whole stdout fails on a second document or on any log line around it.
    const report = JSON.parse(r.stdout) as Record<string, { ok: boolean; license?: string }>;
    assert.deepEqual(Object.keys(report), [...TOOLS]);
    assert.equal(r.code, Object.values(report).every((t) => t.ok) ? 0 : 1);
    assert.ok(Object.values(report).every((t) => !t.ok || typeof t.license === 'string'));
  });

  it('a command that starts a server and logs (cellctl cell) writes its logs to stderr and nothing to stdout', async () => {
    const [port] = await freePorts(1);
    const data = mkdtempSync(join(tmpdir(), 'cellsim-json-output-'));
    try {
      const r = await cellctl(
        ['cell', '--id', 'cell-9', '--port', String(port), '--data', data, '--no-consul', '--drain-delay', '0'],
        { CELLSIM_LOG_LEVEL: 'info' },
        (x) => x.stderr.includes('cell listening'),
        // Its signal handlers are in place once it answers HTTP: the stop is then the graceful one.
        () => fetch(`http://127.0.0.1:${port}/healthz`),
      );
      assert.equal(r.stdout, '', 'stdout stays empty');
      const logs = logLines(r.stderr);
      assert.ok(
        logs.some((l) => l.component === 'cell' && l.msg === 'cell listening'),
        r.stderr,
      );
      assert.ok(
        logs.some((l) => l.msg === 'stopped'),
        `logs to the end on stderr:\n${r.stderr}`,
      );
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });

  it('a reader that closes the pipe early ends the output quietly (exit 0, no EPIPE trace)', async () => {
    const child = spawn(process.execPath, [CELLCTL, 'drill', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    // Like `| head -0`: the reader is gone before the command writes.
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /EPIPE/);
  });
});
