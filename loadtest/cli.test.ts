import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SABOTAGE_FLAGS } from './drills/sabotage.js';

const CELLCTL = fileURLToPath(new URL('../bin/cellctl.js', import.meta.url));
const runAsync = (...args: string[]) =>
  new Promise<{ status: number | null; stderr: string }>((resolve) => {
    execFile(process.execPath, [CELLCTL, 'drill', ...args], { encoding: 'utf8', timeout: 30_000 }, (err, _out, stderr) =>
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr }),
    );
  });
const run = (...args: string[]) => spawnSync(process.execPath, [CELLCTL, 'drill', ...args], { encoding: 'utf8', timeout: 30_000 });

describe('cellctl drill command line', () => {
  it('lists every drill in --help', () => {
    const r = run('--help');
    assert.equal(r.status, 0);
    for (const name of [
      'cell-crash',
      'cell-hang',
      'router-replica-kill',
      'envoy-replica-kill',
      'consul-outage',
      'migration-under-load',
      'bad-rollout',
      'cell-loss',
      'kafka-broker-down',
    ]) {
      assert.match(r.stdout, new RegExp(`\\n  ${name} `));
    }
    for (const flag of Object.values(SABOTAGE_FLAGS)) {
      assert.match(r.stdout, new RegExp(`${flag} +sabotage`), flag);
    }
  });

  it("keeps the router's drill sabotage out of `cellctl router --help`", () => {
    const r = spawnSync(process.execPath, [CELLCTL, 'router', '--help'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /--stall-timeout/);
    assert.doesNotMatch(r.stdout, /sabotage/);
  });

  it('refuses bad input with a clear message and a non-zero exit, before touching any topology', async () => {
    const cases: [string[], RegExp][] = [
      [['no-such-drill'], /unknown drill 'no-such-drill'; one of: cell-crash/],
      [['cell-crash', '--plane', 'both-ish'], /Allowed choices are router, envoy, both/],
      [['cell-crash', '--rate', '0'], /'0' is not a positive integer/],
      [['cell-crash', '--duration', '10x'], /'10x' is not a duration/],
      [['cell-crash', '--mix', 'delete=1'], /'delete=1' is not op=weight/],
      [[], /missing required argument 'name'/],
      // A sabotage switch that does not apply is refused, never ignored.
      [['consul-outage', '--fault-every-cell'], /cellctl: --fault-every-cell does not apply to drill consul-outage/],
      [
        ['router-replica-kill', '--fault-every-cell'],
        /--fault-every-cell does not apply to drill router-replica-kill \(it takes --fault-never-starts\)/,
      ],
      [['migration-under-load', '--fault-every-cell'], /--fault-every-cell does not apply to drill migration-under-load/],
      [['bad-rollout', '--fault-every-cell'], /--fault-every-cell does not apply to drill bad-rollout \(it takes --fault-never-starts\)/],
      [['consul-outage', '--router-one-cell'], /--router-one-cell does not apply to drill consul-outage/],
      [
        ['cell-errors', '--router-isolation-off'],
        /--router-isolation-off does not apply to drill cell-errors \(it takes --fault-every-cell, --fault-never-starts, --router-one-cell\)/,
      ],
      [
        ['cell-hang', '--router-isolation-off', '--plane', 'envoy'],
        /--router-isolation-off sabotages the router plane: the run must drive it/,
      ],
      [['cell-hang', '--router-one-cell', '--router-isolation-off'], /--router-one-cell and --router-isolation-off are separate runs/],
      [['cell-crash', '--stale-backup'], /--stale-backup does not apply to drill cell-crash/],
      [['cell-loss', '--fault-every-cell'], /--fault-every-cell does not apply to drill cell-loss \(it takes --stale-backup\)/],
      [['cell-crash', '--fault-never-ends'], /--fault-never-ends does not apply to drill cell-crash/],
      [
        ['kafka-broker-down', '--fault-never-starts'],
        /--fault-never-starts does not apply to drill kafka-broker-down \(it takes --fault-never-ends\)/,
      ],
    ];
    // Each case is a cellctl process of its own (2-4 s to load the drills); they run 6 at a time.
    const pending = [...cases];
    const lane = async () => {
      for (let c = pending.shift(); c; c = pending.shift()) {
        const [args, message] = c;
        const r = await runAsync(...args, '--data', '/nonexistent/cellsim-data');
        assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message);
      }
    };
    await Promise.all(Array.from({ length: 6 }, lane));
  });
});
