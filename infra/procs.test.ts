/**
 * killGroupLeavesFirst against real processes: nothing of the group is left, not even a zombie;
 * listenerIn finds the member that listens, in another network namespace too.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { freePort } from './ports.js';
import { groupMembers, killGroupLeavesFirst, listenerIn, readProc, readRssKb } from './procs.js';

describe('killGroupLeavesFirst', () => {
  it('kills a three-level group (shell → shell → sleep) leaving no process and no zombie', async () => {
    const root = spawn('bash', ['-c', 'bash -c "sleep 30 & echo \\$!; wait" & wait'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const grandchild = Number(
      await new Promise<string>((resolve) => root.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))),
    );
    const pgid = root.pid!;
    const before = groupMembers(pgid).map((p) => p.pid);
    assert.ok(before.includes(grandchild) && before.includes(pgid), `group ${pgid}: ${before.join(' ')}`);
    const exited = new Promise((r) => root.once('exit', r));
    await killGroupLeavesFirst(pgid);
    await exited;
    // Every member is gone from /proc: a zombie (state Z) would still be listed there.
    const left = before.map((pid) => readProc(pid)).filter((p) => p !== undefined);
    assert.deepEqual(left, []);
  });
});

describe('readRssKb', () => {
  it('reads VmRSS of a live process and nothing of a gone one', () => {
    const kb = readRssKb(process.pid);
    assert.ok(kb !== undefined && kb > 1000, String(kb));
    assert.equal(readRssKb(2 ** 22 + 12345), undefined);
  });
});

describe('listenerIn', () => {
  it('finds the member of a group that listens in a network namespace of its own, as under cellctl up --hosts (root: unshare -n)', async () => {
    assert.equal(process.getuid?.(), 0, 'this test makes a network namespace: it runs as root (as CI does)');
    const port = await freePort();
    // The group's leader (bash) stays in this namespace; node listens in a new one, as a child
    // started by `ip netns exec` does under its watchdog.
    const js = `require('net').createServer().listen(${port}, '127.0.0.1', () => console.log(process.pid))`;
    const root = spawn('bash', ['-c', `unshare -n bash -c 'ip link set lo up && exec node -e "$JS"' & wait`], {
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, JS: js },
    });
    try {
      const listener = Number(
        await new Promise<string>((resolve) => root.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))),
      );
      const pgid = root.pid!;
      assert.ok(listener > 0 && groupMembers(pgid).some((p) => p.pid === listener), `node ${listener} in group ${pgid}`);
      assert.equal(listenerIn(pgid, port), listener);
      assert.equal(listenerIn(pgid, port === 65535 ? port - 1 : port + 1), undefined, 'nothing listens on another port');
    } finally {
      await killGroupLeavesFirst(root.pid!);
    }
  });
});
