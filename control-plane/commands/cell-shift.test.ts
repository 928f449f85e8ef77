/**
 * `cellctl cells shift` against real components: Consul, the control plane's admin API, the router
 * process, the xDS server with a real Envoy, one echo instance of cell-1 per color. A dry run and
 * every bad input write nothing; a shift to green 50 % is written, audited, and both planes send
 * green its share; `--clear` gives blue everything again.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { countColors } from '../../infra/harness/color-count.js';
import { startConsul } from '../../infra/harness/consul.js';
import { seedKv, startEchoCell, type EchoCell } from '../../infra/harness/echo-cell.js';
import { ProcessScope } from '../../infra/process.js';
import { startRouterProcess } from '../../router/testing.js';
import { KvStore } from '../../shared/consul/kv-store.js';
import { CellRecordSchema, KvLayout, type CellRecord } from '../../shared/kv.js';
import { startControlPlane, startTestEnvoy } from '../xds/testing.js';

const CELLCTL = fileURLToPath(new URL('../../bin/cellctl.js', import.meta.url));
const TOKEN = 'cell-shift-test-operator-token';
const N = 400;
const dispatcher = new Agent({ connections: 8, keepAliveTimeout: 10_000 });
/** `n` requests for m-1 through `base`, 8 at a time: the colors that answered. */
const colors = (base: string, n: number) => countColors(base, 'm-1', n, { dispatcher });

describe('cellctl cells shift', { timeout: 240_000 }, () => {
  const scope = new ProcessScope();
  const echoes: EchoCell[] = [];
  let cpUrl = '';
  let kv: KvStore;
  let planes: { name: string; url: string }[] = [];

  function cellctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [CELLCTL, 'cells', 'shift', ...args, '--control-plane', cpUrl],
        { timeout: 60_000, env: { ...process.env, CELLSIM_TOKEN: TOKEN } },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
      );
    });
  }
  const record = async (): Promise<CellRecord | undefined> => (await kv.getJson(CellRecordSchema, new KvLayout().cellKey('cell-1')))?.value;

  async function until(what: string, check: () => Promise<boolean>): Promise<void> {
    for (const end = Date.now() + 20_000; Date.now() < end;) if (await check()) return;
    throw new Error(`timed out after 20 s waiting for ${what}`);
  }

  before(async () => {
    const consul = await startConsul();
    scope.adopt(consul.proc);
    kv = new KvStore(consul.url);
    echoes.push(await startEchoCell({ cell: 'cell-1', color: 'blue', consulUrl: consul.url }));
    echoes.push(await startEchoCell({ cell: 'cell-1', color: 'green', consulUrl: consul.url, version: 'v2' }));
    await seedKv(consul.url, { cells: { 'cell-1': { activeColor: 'blue' } }, markets: { 'm-1': { cell: 'cell-1' } } });
    const router = await startRouterProcess(scope, { consulUrl: consul.url, name: 'router-cell-shift' });
    const cp = await startControlPlane(scope, {
      consulUrl: consul.url,
      id: 'cp-cell-shift',
      testHooks: false,
      env: { CELLSIM_OPERATOR_TOKEN: TOKEN },
    });
    cpUrl = cp.httpUrl;
    const envoy = await startTestEnvoy(scope, { xdsPort: cp.xdsPort, id: 'edge-cell-shift' });
    planes = [
      { name: 'router', url: router.url },
      { name: 'envoy', url: envoy.url },
    ];
    for (const p of planes)
      await until(`${p.name} to route m-1 to blue`, async () => (await colors(p.url, 20).catch(() => ({ blue: 0, green: 1 }))).green === 0);
  });
  after(async () => {
    for (const e of echoes) await e.close();
    await scope.close();
    await dispatcher.close();
  });

  it('a dry run and every bad input write nothing; bad input exits 1 naming why', async () => {
    const before = await record();
    const dry = await cellctl(['cell-1', '--color', 'green', '--percent', '50', '--dry-run', '--json']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(JSON.parse(dry.stdout), { dryRun: true, cell: { ...before, shift: { color: 'green', percent: 50 } } });
    const bad: [string[], RegExp][] = [
      [['cell-1', '--color', 'green', '--percent', '0'], /not a percent above 0/],
      [['cell-1', '--color', 'green', '--percent', '101'], /not a percent above 0/],
      [['cell-1', '--color', 'green', '--percent', '1.234'], /two decimals at most/],
      [['cell-1', '--color', 'red', '--percent', '5'], /not a color/],
      [['cell-1', '--clear', '--percent', '5'], /--clear takes no --color or --percent/],
      [['cell-1'], /give --color and --percent, or --clear/],
      [['cell-1', '--color', 'blue', '--percent', '5'], /active on blue: a shift goes to the other color/],
      [['cell-9', '--clear'], /unknown cell 'cell-9'/],
      [['Cell_1', '--clear'], /is not a cell id/],
    ];
    for (const [args, why] of bad) {
      const r = await cellctl([...args, '--json']);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, why, args.join(' '));
      assert.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
    }
    assert.deepEqual(await record(), before, 'the record is unchanged');
  });

  it('writes the shift (audited): both planes send green its share; --clear gives blue everything', async (t) => {
    const set = await cellctl(['cell-1', '--color', 'green', '--percent', '50', '--json']);
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual((JSON.parse(set.stdout) as { cell: CellRecord }).cell.shift, { color: 'green', percent: 50 });
    assert.deepEqual((await record())?.shift, { color: 'green', percent: 50 });
    for (const p of planes) {
      await until(`${p.name} to send green a share`, async () => (await colors(p.url, 50)).green > 0);
      const got = await colors(p.url, N);
      const share = got.green / N;
      t.diagnostic(`${p.name} at 50%: green ${(share * 100).toFixed(1)}% (${got.green} of ${N})`);
      assert.ok(Math.abs(share - 0.5) <= 4 * Math.sqrt(0.25 / N), `${p.name}: green took ${(share * 100).toFixed(1)}%`);
    }
    const res = await request(`${cpUrl}/admin/audit?limit=5`, { headers: { authorization: `Bearer ${TOKEN}` }, dispatcher });
    const { audit } = (await res.body.json()) as { audit: { action: string; target: string; params: unknown; result: string }[] };
    const mine = audit.find((a) => a.action === 'shift');
    assert.deepEqual(mine && { target: mine.target, params: mine.params, result: mine.result }, {
      target: 'cell-1',
      params: { color: 'green', percent: 50 },
      result: 'ok',
    });

    const clear = await cellctl(['cell-1', '--clear']);
    assert.equal(clear.code, 0, clear.stderr);
    assert.match(clear.stdout, /^no shift: blue takes all of cell-1's requests\n$/);
    assert.equal((await record())?.shift, undefined);
    for (const p of planes) await until(`${p.name}: blue alone`, async () => (await colors(p.url, 100)).green === 0);
  });
});
