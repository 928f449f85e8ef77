import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { bindEnv, ENV_USAGE_EXIT_CODE, neverFromEnv, parseEnvBoolean } from './cli.js';

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

/** Runs `fn` with `vars` set in process.env (undefined: unset), then puts the environment back. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = { ...process.env };
  try {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    return await fn();
  } finally {
    process.env = saved;
  }
}

/** Parses `args` for a bound command built by `make`; resolves to the action's options, or the error and stderr. */
async function parse(
  make: () => Command,
  args: string[] = [],
): Promise<{ opts?: Record<string, unknown>; err?: CommanderError; stderr: string }> {
  const got: { opts?: Record<string, unknown> } = {};
  let stderr = '';
  const cmd = bindEnv(make().action((o: Record<string, unknown>) => void (got.opts = { ...o })));
  const quiet = (c: Command): void => {
    c.exitOverride().configureOutput({ writeErr: (s) => void (stderr += s), writeOut: () => undefined });
    c.commands.forEach(quiet);
  };
  quiet(cmd);
  try {
    await cmd.parseAsync(args, { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    return { err, stderr, ...got };
  }
  return { stderr, ...got };
}

describe('parseEnvBoolean', () => {
  it('accepts exactly true, false, 1 and 0', () => {
    assert.equal(parseEnvBoolean('CELLSIM_X', 'true'), true);
    assert.equal(parseEnvBoolean('CELLSIM_X', '1'), true);
    assert.equal(parseEnvBoolean('CELLSIM_X', 'false'), false);
    assert.equal(parseEnvBoolean('CELLSIM_X', '0'), false);
  });

  it('refuses anything else, naming the variable, its value, the option and the accepted values', () => {
    for (const bad of ['yes', 'no', '2', '', ' true', 'true ', 'TRUE', 'True', 'on', '01', undefined]) {
      assert.throws(
        () => parseEnvBoolean('CELLSIM_DRY_RUN', bad, '--dry-run'),
        (err: unknown) =>
          err instanceof InvalidArgumentError &&
          err.message ===
            `CELLSIM_DRY_RUN=${JSON.stringify(bad ?? '')} is not a boolean: the variable of --dry-run takes true, false, 1 or 0`,
        `${JSON.stringify(bad)} is refused`,
      );
    }
  });
});

describe('bindEnv: boolean options', () => {
  const make = () => new Command('x').option('--dry-run', 'dry run').option('--no-wait', 'do not wait').option('--data <dir>', 'data');

  it('reads a flag from its variable strictly: 0 and false leave it off, 1 and true turn it on', async () => {
    for (const [value, expected] of [
      ['0', false],
      ['false', false],
      ['1', true],
      ['true', true],
    ] as const) {
      const r = await withEnv({ CELLSIM_DRY_RUN: value }, () => parse(make));
      assert.equal(r.err, undefined, r.stderr);
      assert.equal(r.opts?.dryRun, expected, `CELLSIM_DRY_RUN=${value}`);
    }
    const unset = await withEnv({ CELLSIM_DRY_RUN: undefined }, () => parse(make));
    assert.equal(unset.opts?.dryRun, undefined);
  });

  it('reads a negated flag from the positive name: CELLSIM_WAIT=false is --no-wait, true or unset waits', async () => {
    for (const [value, expected] of [
      ['false', false],
      ['0', false],
      ['true', true],
      ['1', true],
      [undefined, true],
    ] as const) {
      const r = await withEnv({ CELLSIM_WAIT: value }, () => parse(make));
      assert.equal(r.err, undefined, r.stderr);
      assert.equal(r.opts?.wait, expected, `CELLSIM_WAIT=${String(value)}`);
    }
    const bad = await withEnv({ CELLSIM_WAIT: 'no' }, () => parse(make));
    assert.match(bad.stderr, /CELLSIM_WAIT="no" is not a boolean: the variable of --no-wait takes true, false, 1 or 0/);
  });

  it('refuses any other value with a usage error before the action runs', async () => {
    for (const bad of ['maybe', 'yes', '2', '', ' true', 'TRUE']) {
      const r = await withEnv({ CELLSIM_DRY_RUN: bad }, () => parse(make));
      assert.equal(r.opts, undefined, `CELLSIM_DRY_RUN=${JSON.stringify(bad)}: the action did not run`);
      assert.equal(r.err?.exitCode, ENV_USAGE_EXIT_CODE);
      assert.equal(r.err?.code, 'cellsim.envBoolean');
      assert.equal(
        r.stderr,
        `error: CELLSIM_DRY_RUN=${JSON.stringify(bad)} is not a boolean: the variable of --dry-run takes true, false, 1 or 0\n`,
      );
    }
  });

  it('lets the command line win: the variable is then not read', async () => {
    const r = await withEnv({ CELLSIM_DRY_RUN: 'maybe', CELLSIM_WAIT: 'true' }, () => parse(make, ['--dry-run', '--no-wait']));
    assert.equal(r.err, undefined, r.stderr);
    assert.equal(r.opts?.dryRun, true);
    assert.equal(r.opts?.wait, false);
  });

  it('checks the flags of subcommands too', async () => {
    const r = await withEnv({ CELLSIM_DRY_RUN: 'yes' }, () => parse(() => new Command('top').addCommand(make()), ['x']));
    assert.match(r.stderr, /CELLSIM_DRY_RUN="yes" is not a boolean/);
    assert.equal(r.err?.exitCode, ENV_USAGE_EXIT_CODE);
  });

  it('leaves --no-x unbound when --x <value> owns CELLSIM_X (cell: --consul <url> / --no-consul)', async () => {
    const withConsul = () => new Command('cell').option('--consul <url>', 'consul').option('--no-consul', 'no consul');
    const r = await withEnv({ CELLSIM_CONSUL: 'http://127.0.0.1:8500' }, () => parse(withConsul));
    assert.equal(r.err, undefined, r.stderr);
    assert.equal(r.opts?.consul, 'http://127.0.0.1:8500');
  });

  it('never binds test hooks or a sabotage switch, hidden or marked neverFromEnv, even one given .env()', async () => {
    const cmd = () =>
      new Command('x')
        .addOption(new Option('--test-hooks', 'hooks').default(false).hideHelp())
        .addOption(neverFromEnv(new Option('--fault-every-cell', 'sabotage')))
        .addOption(neverFromEnv(new Option('--router-one-cell', 'sabotage').env('CELLSIM_ROUTER_ONE_CELL')));
    for (const value of ['1', 'true', '0', 'maybe']) {
      const r = await withEnv({ CELLSIM_TEST_HOOKS: value, CELLSIM_FAULT_EVERY_CELL: value, CELLSIM_ROUTER_ONE_CELL: value }, () =>
        parse(cmd),
      );
      assert.equal(r.err, undefined, r.stderr);
      assert.deepEqual(r.opts, { testHooks: false }, `value ${value}`);
    }
    const help = bindEnv(cmd()).helpInformation();
    assert.doesNotMatch(help, /env:/);
  });

  it("shows each flag's variable and the accepted values in --help", () => {
    const help = bindEnv(make());
    let out = '';
    help.configureOutput({ writeOut: (s) => void (out += s) }).outputHelp();
    assert.match(out, /--dry-run +dry run \(env: CELLSIM_DRY_RUN\)/);
    assert.match(out, /--no-wait +do not wait \(env: CELLSIM_WAIT\)/);
    assert.match(out, /A flag's CELLSIM_\* variable takes true, false, 1 or 0; any other value is refused\./);
  });
});
