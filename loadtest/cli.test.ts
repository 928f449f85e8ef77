import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CELLCTL = fileURLToPath(new URL('../bin/cellctl.js', import.meta.url));
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
    ]) {
      assert.match(r.stdout, new RegExp(`\\n  ${name} `));
    }
  });

  it('refuses bad input with a clear message and a non-zero exit, before touching any topology', () => {
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
    ];
    for (const [args, message] of cases) {
      const r = run(...args, '--data', '/nonexistent/cellsim-data');
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});
