import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command, Option } from 'commander';
import { bindEnv } from './cli.js';

describe('bindEnv', () => {
  it('reads CELLSIM_* variables for options bound after they were added, below the command line', async () => {
    const seen: Record<string, unknown>[] = [];
    const make = () =>
      bindEnv(
        new Command('x')
          .option('--data <dir>', 'data', '.cellsim')
          .option('--json', 'json')
          .option('--base-port <p>', 'port', Number, 8000)
          .action((o: Record<string, unknown>) => void seen.push({ ...o })),
      );
    const env = { ...process.env };
    try {
      process.env.CELLSIM_DATA = '/tmp/from-env';
      process.env.CELLSIM_JSON = '1';
      process.env.CELLSIM_BASE_PORT = '20000';
      await make().parseAsync([], { from: 'user' });
      await make().parseAsync(['--data', '/tmp/from-cli'], { from: 'user' });
    } finally {
      process.env = env;
    }
    assert.deepEqual(seen[0], { data: '/tmp/from-env', json: true, basePort: 20000 });
    assert.equal(seen[1]?.data, '/tmp/from-cli');
  });

  it('never reads a hidden option (test hooks, drill sabotage) from the environment', async () => {
    let seen: Record<string, unknown> = {};
    const cmd = bindEnv(
      new Command('x')
        .option('--data <dir>', 'data')
        .addOption(new Option('--drill-sabotage <kind>', 'hidden').hideHelp())
        .action((o: Record<string, unknown>) => void (seen = { ...o })),
    );
    const env = { ...process.env };
    try {
      process.env.CELLSIM_DATA = '/tmp/from-env';
      process.env.CELLSIM_DRILL_SABOTAGE = 'one-cell=cell-0';
      await cmd.parseAsync([], { from: 'user' });
    } finally {
      process.env = env;
    }
    assert.deepEqual(seen, { data: '/tmp/from-env' });
  });
});
