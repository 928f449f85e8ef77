/** killGroupLeavesFirst against real processes: nothing of the group is left, not even a zombie. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { groupMembers, killGroupLeavesFirst, readProc, readRssKb } from './procs.js';

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
