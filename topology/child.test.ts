/**
 * A supervised child against faults from outside, on a tiny real HTTP server: its pid is the
 * process that listens (as `ss` sees it), a SIGKILL of that process or of its watchdog restarts
 * it with nothing left on the port, a SIGSTOPped one is replaced as hung, and a port held by a
 * stray process is reported in one line and given up after a bounded number of checks.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { createLogger } from '../shared/logger.js';
import { freePort } from '../infra/ports.js';
import { Child, LIMITS, type ChildSpec } from './child.js';
import { groupMembers, readProc } from '../infra/procs.js';

const SERVER = `require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.argv[1]), '127.0.0.1')`;

function spec(port: number, over: Partial<ChildSpec> = {}): ChildSpec {
  const url = `http://127.0.0.1:${port}`;
  const answers = async () => (await fetch(url, { signal: AbortSignal.timeout(500) })).ok;
  return {
    name: 'echo',
    kind: 'cell',
    command: process.execPath,
    args: ['-e', SERVER, String(port)],
    url,
    port,
    ready: answers,
    alive: answers,
    ...over,
  };
}

/** The pids `ss` shows listening on `port`. */
function ssListeners(port: number): number[] {
  const out = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' });
  return [...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
}

const alive = (pid: number) => {
  const p = readProc(pid);
  return p !== undefined && p.state !== 'Z';
};

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (check()) return;
  assert.fail(`timed out waiting for ${what}`);
}

describe('a supervised child survives faults from outside', () => {
  const logDir = mkdtempSync(join(tmpdir(), 'cellsim-child-'));
  const log = createLogger('child-test');
  const saved = { ...LIMITS };
  let child: Child | undefined;
  let port = 0;
  before(() => {
    LIMITS.tickMs = 200;
  });
  after(() => Object.assign(LIMITS, saved));
  afterEach(async () => {
    const pgid = child?.wrapperPid;
    await child?.stop(2000);
    if (pgid) assert.deepEqual(groupMembers(pgid), [], 'nothing of the group is left');
    child = undefined;
  });

  const running = async () => {
    child = new Child(spec((port = await freePort())), logDir, log);
    await child.start(10_000);
    return child;
  };
  const restarted = async (c: Child, old: number) => {
    await until('a new listener', () => c.state === 'running' && c.pid !== null && c.pid !== old);
    assert.ok(!alive(old), `the old process ${old} is gone`);
    assert.deepEqual(ssListeners(port), [c.pid], 'only the new process listens');
  };

  it('gives the pid of the process that listens, not of its watchdog', async () => {
    const c = await running();
    assert.ok(c.pid && c.wrapperPid && c.pid !== c.wrapperPid);
    assert.deepEqual(ssListeners(port), [c.pid]);
    assert.equal(readProc(c.pid)?.pgid, c.wrapperPid, 'in the watchdog’s process group');
  });

  it('SIGKILL of the listening process: restarted, the port served by the new one', async () => {
    const c = await running();
    const old = c.pid!;
    process.kill(old, 'SIGKILL');
    await restarted(c, old);
    assert.equal(c.restarts, 1);
  });

  it('SIGKILL of the watchdog: the orphan is killed, not left on the port, and the child restarts', async () => {
    const c = await running();
    const old = c.pid!;
    process.kill(c.wrapperPid!, 'SIGKILL');
    await restarted(c, old);
  });

  it('SIGKILL of the whole group: restarted', async () => {
    const c = await running();
    const old = c.pid!;
    process.kill(-c.wrapperPid!, 'SIGKILL');
    await restarted(c, old);
  });

  it('SIGSTOP of the listening process: detected as hung and replaced; the stopped one is killed', async () => {
    const c = await running();
    const old = c.pid!;
    process.kill(old, 'SIGSTOP');
    await restarted(c, old);
    assert.match(c.problem ?? '', /stopped \(SIGSTOP\); replaced as hung/);
  });

  it('a child that stops answering its liveness probe is replaced as hung', async () => {
    let healthy = true;
    port = await freePort();
    const s = spec(port);
    child = new Child({ ...s, alive: async () => healthy && (await s.alive!()) }, logDir, log);
    await child.start(10_000);
    const old = child.pid!;
    healthy = false;
    await until('replaced', () => child!.state !== 'running');
    healthy = true;
    await restarted(child, old);
    assert.match(child.problem ?? '', /no answer to 3 liveness probes/);
  });

  describe('a port taken by a stray process', () => {
    let stray: Server;
    const lines: string[] = [];
    before(async () => {
      port = await freePort();
      stray = createServer();
      await new Promise<void>((r) => stray.listen(port, '127.0.0.1', r));
    });
    after(() => new Promise<void>((r) => stray.close(() => r())));

    it('is reported in one clear line, checked a bounded number of times, then shown as failed', async () => {
      LIMITS.portAttempts = 2;
      try {
        child = new Child(spec(port), logDir, log, { report: (l) => lines.push(l) });
        await assert.rejects(child.start(20_000), /gave up after 2 checks/);
        assert.equal(child.state, 'failed');
        assert.equal(lines.length, 2, lines.join('\n'));
        assert.match(
          lines[0]!,
          new RegExp(
            `^echo cannot start: port ${port} is taken by pid ${process.pid} \\(.*\\); stop that process or free the port \\(check 1 of 2\\)$`,
          ),
        );
        assert.match(child.problem ?? '', /then start it again \(POST \/children\/echo\/start\); gave up after 2 checks/);
        assert.equal(child.wrapperPid, null, 'nothing was spawned into the taken port');
      } finally {
        LIMITS.portAttempts = saved.portAttempts;
      }
    });

    it('moves to the port the supervisor offers when it can (--any-ports)', async () => {
      const fresh = await freePort();
      child = new Child(spec(port), logDir, log, { portTaken: async () => spec(fresh), report: (l) => lines.push(l) });
      await child.start(10_000);
      assert.equal(child.spec.port, fresh);
      assert.deepEqual(ssListeners(fresh), [child.pid]);
      assert.match(
        lines.at(-1)!,
        new RegExp(`^echo: port ${port} is taken by pid ${process.pid} .*; moved to port ${fresh} \\(--any-ports\\)$`),
      );
    });
  });
});
