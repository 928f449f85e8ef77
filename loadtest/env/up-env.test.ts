/** openUpEnv's attach rule: a topology whose supervisor still runs is waited for, never started over. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort } from '../../infra/ports.js';
import { openUpEnv } from './up-env.js';

describe('openUpEnv', () => {
  it('refuses to start a second cellctl up over a live supervisor whose components do not answer', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'cellsim-upenv-'));
    const dead = `http://127.0.0.1:${await freePort()}`;
    const topology = {
      // This test process stands in for the supervisor: its pid lives.
      supervisor: { url: dead, pid: process.pid },
      consul: { url: dead, pid: null },
      controlPlane: { url: dead, pid: null },
      routers: [{ id: 'router-1', url: dead, pid: null }],
      envoys: [],
      cells: [],
    };
    writeFileSync(join(dataDir, 'topology.json'), JSON.stringify(topology));
    const started = Date.now();
    await assert.rejects(
      openUpEnv({ dataDir, attachWaitMs: 1500 }),
      /is supervised \(cellctl up, pid \d+\) but its Consul or routers have not answered/,
    );
    assert.ok(Date.now() - started >= 1500, 'waited for the live topology first');
    // The live topology's file is left alone.
    assert.deepEqual(JSON.parse(readFileSync(join(dataDir, 'topology.json'), 'utf8')), topology);
  });
});
