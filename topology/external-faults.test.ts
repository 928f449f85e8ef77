/**
 * Faults from outside the product on a real topology (`cellctl up --any-ports`: real Consul,
 * cells, routers, control plane, Envoys): the pid that topology.json, the control channel and
 * `cellctl status --json` list is the process that listens (as `ss` sees it); a SIGKILL of it or
 * of its wrapper restarts the child with nothing left on its port; a SIGSTOPped one is replaced
 * as hung; a port held by a stray process is reported in one line and given up after bounded
 * checks, and a cell under --any-ports moves to a fresh port that Consul and the routers follow.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { waitFor, type ManagedProcess } from '../infra/process.js';
import { startUp } from '../infra/harness/up.js';
import { groupMembers, readProc } from '../infra/procs.js';
import { ConsulClient } from '../shared/consul/client.js';
import { readConsulToken } from '../shared/consul-acl.js';

const CELLCTL = fileURLToPath(new URL('../bin/cellctl.js', import.meta.url));

/** A child as the control channel (GET /children) lists it. */
interface ChildView {
  name: string;
  kind: string;
  state: string;
  pid: number | null;
  wrapperPid?: number | null;
  restarts: number;
  port?: number;
  url?: string;
  cell?: string;
  problem?: string;
}

/** The pids `ss` shows listening on 127.0.0.1:`port`. */
function listeners(port: number): number[] {
  const out = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' });
  return [...new Set([...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))];
}

const live = (pid: number) => {
  const p = readProc(pid);
  return p !== undefined && p.state !== 'Z';
};

describe('the supervisor survives faults from outside (cellctl up)', () => {
  let data: string;
  let up: ManagedProcess;
  let token: string;
  let supervisorUrl: string;
  /** Every process group a child had: none may be left after the test. */
  const groups = new Set<number>();
  /**
   * Processes this test stopped (SIGSTOP), by pid with their start time: continued and killed at
   * the end whatever happens, unless the pid now names another process (pids wrap here).
   */
  const stoppedByTest = new Map<number, string>();

  const sup = async <T>(method: string, path: string): Promise<T> => {
    const res = await fetch(`${supervisorUrl}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  };
  const children = async () => {
    const list = await sup<ChildView[]>('GET', '/children');
    for (const c of list) if (c.wrapperPid) groups.add(c.wrapperPid);
    return list;
  };
  const child = async (name: string) => (await children()).find((c) => c.name === name)!;
  /** Waits until `name` runs on a pid other than `old`; returns it. */
  const replaced = async (name: string, old: number, ms = 30_000): Promise<ChildView> => {
    let last: ChildView | undefined;
    await waitFor(
      async () => {
        last = await child(name);
        return last.state === 'running' && last.pid !== null && last.pid !== old;
      },
      ms,
      () => `${name} running on a new pid (last seen ${JSON.stringify(last)}); supervisor output:\n${up.output()}`,
      100,
    );
    return last!;
  };
  const cellctl = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [CELLCTL, ...args],
        { env: { ...process.env, CELLSIM_DATA: data }, timeout: 60_000 },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
      );
    });
  const topology = () =>
    JSON.parse(readFileSync(join(data, 'topology.json'), 'utf8')) as {
      routers: { id: string; pid: number | null; wrapperPid: number | null }[];
      cells: { id: string; url: string; pid: number | null; instances: { name: string; url: string; pid: number | null }[] }[];
      consul: { url: string; pid: number | null };
      controlPlane: { pid: number | null };
      envoys: { id: string; pid: number | null }[];
    };

  before(async () => {
    data = mkdtempSync(join(tmpdir(), 'cellsim-external-'));
    up = await startUp({ data });
    token = readFileSync(join(data, 'tokens', 'supervisor'), 'utf8').trim(); // the control channel's own token
    supervisorUrl = (JSON.parse(readFileSync(join(data, 'topology.json'), 'utf8')) as { supervisor: { url: string } }).supervisor.url;
  });
  after(async () => {
    for (const [pid, started] of stoppedByTest) {
      if (readProc(pid)?.startTime !== started) continue; // gone, or the pid was reused
      for (const sig of ['SIGCONT', 'SIGKILL'] as const) {
        try {
          process.kill(pid, sig);
        } catch {
          /* gone */
        }
      }
    }
    await up?.stop(30_000);
    const left = [...groups].flatMap((g) => groupMembers(g).map((p) => `${p.pid} ${p.comm} (group ${g})`));
    assert.deepEqual(left, [], 'no process of any child is left after the stop');
  });

  it('lists the pid of the process that listens, in the control channel, topology.json and cellctl status --json', async () => {
    const list = await children();
    assert.equal(list.length, 3 + 1 + 1 + 2 + 2);
    for (const c of list) {
      assert.equal(c.state, 'running', c.name);
      assert.ok(c.pid && c.port, `${c.name} has a pid and a port`);
      assert.notEqual(c.pid, c.wrapperPid, `${c.name}: the listed pid is not its watchdog`);
      assert.deepEqual(listeners(c.port), [c.pid], `${c.name}: ss shows pid ${c.pid} listening on ${c.port}`);
    }
    const t = topology();
    const byName = new Map(list.map((c) => [c.name, c.pid]));
    assert.equal(t.consul.pid, byName.get('consul'));
    assert.equal(t.controlPlane.pid, byName.get('control-plane'));
    for (const r of [...t.routers, ...t.envoys]) assert.equal(r.pid, byName.get(r.id), r.id);
    for (const c of t.cells) assert.equal(c.pid, byName.get(`${c.id}.blue`), c.id);
    const status = await cellctl(['status', '--json']);
    assert.equal(status.code, 0, status.stderr);
    const procs = (JSON.parse(status.stdout) as { processes: ChildView[] }).processes;
    assert.deepEqual(
      procs.map((p) => [p.name, p.pid]),
      list.map((c) => [c.name, c.pid]),
    );
  });

  it('SIGKILL of a cell’s listed pid: restarted, only the new process on its port, topology.json follows', async () => {
    const before = await child('cell-1.blue');
    process.kill(before.pid!, 'SIGKILL');
    const after = await replaced('cell-1.blue', before.pid!);
    assert.ok(!live(before.pid!));
    assert.deepEqual(groupMembers(before.wrapperPid!), [], 'nothing of the old group is left');
    assert.deepEqual(listeners(after.port!), [after.pid]);
    await waitFor(
      () => topology().cells.find((c) => c.id === 'cell-1')?.pid === after.pid,
      5000,
      () => 'topology.json shows the new pid',
    );
  });

  it('SIGKILL of a cell’s wrapper: the orphaned cell is killed, not left on the port, and the cell restarts', async () => {
    const before = await child('cell-2.blue');
    process.kill(before.wrapperPid!, 'SIGKILL');
    const after = await replaced('cell-2.blue', before.pid!);
    assert.ok(!live(before.pid!), `the orphan ${before.pid} is gone`);
    assert.deepEqual(listeners(after.port!), [after.pid]);
    // No crash loop: it stays up.
    await new Promise((r) => setTimeout(r, 3000));
    const later = await child('cell-2.blue');
    assert.deepEqual([later.state, later.pid, later.restarts], ['running', after.pid, after.restarts]);
  });

  it('SIGKILL of the process between an Envoy and its watchdog: the orphaned Envoy is killed and replaced', async () => {
    const before = await child('envoy-2');
    const middle = readProc(before.pid!)!.ppid;
    assert.notEqual(middle, before.wrapperPid, 'envoy runs under cellctl envoy under the watchdog');
    process.kill(middle, 'SIGKILL');
    const after = await replaced('envoy-2', before.pid!);
    assert.ok(!live(before.pid!), `the orphaned envoy ${before.pid} is gone`);
    assert.deepEqual(listeners(after.port!), [after.pid]);
  });

  it('SIGSTOP of a router’s listed pid: detected as hung and replaced; the stopped process is killed', async () => {
    const before = await child('router-2');
    const started = readProc(before.pid!)?.startTime;
    assert.ok(started, `router-2's listed pid ${before.pid} is alive`);
    stoppedByTest.set(before.pid!, started);
    process.kill(before.pid!, 'SIGSTOP');
    const after = await replaced('router-2', before.pid!, 20_000);
    assert.ok(!live(before.pid!), `the stopped router ${before.pid} is gone`);
    assert.deepEqual(listeners(after.port!), [after.pid]);
    assert.match(after.problem ?? '', /router-2: process \d+ \(.*\) is stopped \(SIGSTOP\); replaced as hung/);
  });

  describe('a stray process on a child’s port', () => {
    let stray: Server | undefined;
    const sockets = new Set<Socket>();
    /** A stray listener on `port` that accepts and never answers (Consul's checks of the child connect to it). */
    /**
     * Listens on `port`; false when it stays busy for 5 s. Right after a child died its port may
     * be given to an outgoing connection of another process as an ephemeral port (a stray too).
     */
    const hold = async (port: number): Promise<boolean> => {
      for (let tries = 0; tries < 50; tries++) {
        stray = createServer((s) => sockets.add(s.on('close', () => sockets.delete(s))));
        const ok = await new Promise<boolean>((resolve) => {
          stray!.once('error', () => resolve(false));
          stray!.listen(port, '127.0.0.1', () => resolve(true));
        });
        if (ok) return true;
        await new Promise((r) => setTimeout(r, 100));
      }
      return false;
    };
    const release = () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        if (stray?.listening) stray.close(() => r());
        else r();
      });
    after(release);

    it(
      'is reported in one clear line (port, child, what to do), checked a bounded number of times, then shown as failed',
      { timeout: 120_000 },
      async () => {
        const before = await child('router-1');
        await sup('POST', '/children/router-1/kill?hold=true');
        assert.ok(await hold(before.port!), `the test holds port ${before.port}`);
        await sup('POST', '/children/router-1/start?wait=none');
        const line = new RegExp(
          `router-1 cannot start: port ${before.port} is taken by pid ${process.pid} \\(.*\\); stop that process or free the port`,
        );
        let last: ChildView | undefined;
        await waitFor(
          async () => (last = await child('router-1')).state === 'failed',
          40_000,
          () => `router-1 given up (last ${JSON.stringify(last)})`,
          250,
        );
        assert.match(last!.problem ?? '', line);
        assert.match(last!.problem ?? '', /gave up after 5 checks/);
        assert.equal(last!.pid, null, 'nothing runs on a port it does not have');
        const reported = up
          .output()
          .split('\n')
          .filter((l) => l.startsWith('cellctl up: ') && line.test(l));
        assert.equal(reported.length, 2, `the first check and the give-up, no loop:\n${reported.join('\n')}`);
        assert.match(reported[0]!, /\(check 1 of 5\)$/);
        const status = await cellctl(['status']);
        assert.match(status.stdout, /router-1.*failed/, 'cellctl status shows it');
        // Freed, the operator starts it again.
        await release();
        await sup('POST', '/children/router-1/start');
        assert.equal((await child('router-1')).state, 'running');
      },
    );

    it('under --any-ports a cell moves to a fresh port: topology.json, Consul and the routers follow', { timeout: 120_000 }, async () => {
      await release();
      const before = await child('cell-0.blue');
      await sup('POST', '/children/cell-0.blue/kill?hold=true');
      const held = await hold(before.port!);
      await sup('POST', '/children/cell-0.blue/start');
      const after = await child('cell-0.blue');
      assert.equal(after.state, 'running');
      assert.notEqual(after.port, before.port);
      assert.deepEqual(listeners(after.port!), [after.pid]);
      assert.match(
        up.output(),
        new RegExp(
          `cell-0.blue: port ${before.port} is taken by ${held ? `pid ${process.pid} ` : ''}.*; moved to port ${after.port} \\(--any-ports\\)`,
        ),
      );
      await waitFor(
        () => topology().cells.find((c) => c.id === 'cell-0')?.url === `http://127.0.0.1:${after.port}`,
        5000,
        () => 'topology.json shows the new url',
      );
      const t = topology();
      let ports: number[] = [];
      await waitFor(
        async () => {
          const { value: entries } = await new ConsulClient({ url: t.consul.url, token: readConsulToken(data, 'router') }).health.service(
            'cellsim-cell',
            {
              passing: true,
            },
          );
          ports = entries.filter((e) => e.Service.Meta?.cell === 'cell-0').map((e) => e.Service.Port);
          return ports.length === 1 && ports[0] === after.port;
        },
        15_000,
        () => `only the new port of cell-0 registered and passing in Consul (now ${JSON.stringify(ports)})`,
        200,
      );
      const markets = JSON.parse((await cellctl(['markets', '--json'])).stdout) as { market: string; cell: string }[];
      const market = markets.find((m) => m.cell === 'cell-0')!.market;
      const router = (await children()).find((c) => c.name === 'router-2')!;
      await waitFor(
        async () => {
          const res = await fetch(`${router.url}/v1/orders?limit=1`, { headers: { 'x-market-id': market } });
          await res.arrayBuffer();
          return res.status === 200 && res.headers.get('x-cell-id') === 'cell-0';
        },
        15_000,
        () => `a request for ${market} through router-2 reaches cell-0 on its new port`,
        200,
      );
    });
  });
});
