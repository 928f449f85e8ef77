/**
 * `cellctl seed` against the real pinned Consul (ACLs on, default deny), as the Kubernetes seed
 * Job runs it: tokens from files, the policies and tokens made, cells and markets written once;
 * a second run creates nothing; a missing token file is refused with its stable code.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startConsul, type ConsulAgent } from '../infra/harness/consul.js';
import { cellctlJson, runCellctl } from '../infra/harness/up.js';
import { ConsulClient } from '../shared/consul/client.js';
import { CONSUL_TOKEN_KINDS } from '../shared/consul-acl.js';
import { CellRecordSchema, KvLayout } from '../shared/kv.js';
import { DEFAULT_MARKETS } from './markets.js';

let agent: ConsulAgent;
let data: string;
const tokens: Record<string, string> = {};

before(async () => {
  agent = await startConsul({ name: 'seed-cli-test' });
  data = mkdtempSync(join(tmpdir(), 'cellsim-seed-'));
  mkdirSync(join(data, 'tokens'), { mode: 0o700 });
  tokens.management = agent.token!;
  for (const k of CONSUL_TOKEN_KINDS) tokens[k] = randomUUID();
  for (const [k, v] of Object.entries(tokens)) writeFileSync(join(data, 'tokens', `consul-${k}`), `${v}\n`, { mode: 0o400 });
});
after(async () => {
  await agent.proc.stop();
  rmSync(data, { recursive: true, force: true });
});

interface Out {
  created: number;
  cells: string[];
  markets: number;
}

describe('cellctl seed', () => {
  it('makes the tokens, seeds 6 cells (cell-0 the canary, cell-1 global) and every market, then changes nothing', async () => {
    const args = ['seed', '--consul', agent.url, '--cells', '6', '--nodes', 'consul-0,consul-1', '--timeout', '20'];
    const first = await cellctlJson<Out>(data, args);
    assert.deepEqual(first.cells, ['cell-0', 'cell-1', 'cell-2', 'cell-3', 'cell-4', 'cell-5']);
    assert.equal(first.markets, DEFAULT_MARKETS.length);
    assert.equal(first.created, 6 + DEFAULT_MARKETS.length);
    const again = await cellctlJson<Out>(data, args);
    assert.deepEqual(again, { ...first, created: 0 });

    // The router's token, made by the seed, reads the map; it cannot write it (default deny).
    const router = new ConsulClient({ url: agent.url, token: tokens.router });
    const layout = new KvLayout('cellsim/');
    const cells = (await router.kv.list(layout.cellsPrefix, { timeoutMs: 5000 })).value.map(
      (e) => CellRecordSchema.parse(JSON.parse(e.value ?? '')) as { id: string; canary: boolean; global: boolean },
    );
    assert.deepEqual(
      cells.filter((c) => c.canary || c.global).map((c) => [c.id, c.canary, c.global]),
      [
        ['cell-0', true, false],
        ['cell-1', false, true],
      ],
    );
    await assert.rejects(router.kv.put(`${layout.cellsPrefix}cell-9`, '{}', { timeoutMs: 5000 }));
  });

  it('refuses a missing token file with invalid_token_config and writes nothing', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'cellsim-seed-empty-'));
    try {
      const r = await runCellctl(empty, ['seed', '--consul', agent.url, '--prefix', 'other/', '--json']);
      assert.notEqual(r.code, 0);
      assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'invalid_token_config');
      const mgmt = new ConsulClient({ url: agent.url, token: tokens.management });
      assert.equal((await mgmt.kv.list('other/', { timeoutMs: 5000 })).value.length, 0);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
