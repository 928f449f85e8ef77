/**
 * cellctl: the one CLI of cellsim. This file only dispatches: each subcommand lives in its
 * part's own command module, loaded on demand so `cellctl router` never loads control-plane code.
 */
import { Command, CommanderError } from 'commander';
import { bindEnv, type CommandModule } from '../shared/cli.js';

interface Entry {
  summary: string;
  load: () => Promise<CommandModule>;
}

/** Every subcommand, the part that owns it, and a one-line summary for `cellctl --help`. */
const COMMANDS: Record<string, Entry> = {
  doctor: { summary: 'check that consul, envoy, k6 and node are installed', load: () => import('../infra/doctor.js') },
  cell: { summary: 'run one cell (orders, outbox, log, delivery, saga, faults, market export/import)', load: () => import('../cells/cli.js') },
  router: { summary: 'run the Node router (market → cell through Consul)', load: () => import('../router/cli.js') },
  'control-plane': {
    summary: 'run the control plane: xDS server for Envoy fed from Consul, admin API',
    load: () => import('../control-plane/cli.js'),
  },
  envoy: {
    summary: 'run the real Envoy with a bootstrap pointing at the control plane (ADS)',
    load: () => import('../control-plane/envoy-cli.js'),
  },
  status: { summary: 'cells, versions, health, routers, xDS, running work', load: () => import('../control-plane/commands/status.js') },
  cells: { summary: 'list cells with state, version, color and health', load: () => import('../control-plane/commands/cells.js') },
  markets: { summary: 'list the market map (cell, state, epoch)', load: () => import('../control-plane/commands/markets.js') },
  assign: { summary: 'assign a market to a cell (new, or migrated online)', load: () => import('../control-plane/commands/assign.js') },
  migrate: { summary: 'move a market to another cell while traffic flows', load: () => import('../control-plane/commands/migrate.js') },
  drain: { summary: 'stop new markets going to a cell', load: () => import('../control-plane/commands/drain.js') },
  evacuate: { summary: 'move every market off a cell, a few at a time', load: () => import('../control-plane/commands/evacuate.js') },
  rollout: { summary: 'roll a version out: canary cell-0, bake, SLO, waves', load: () => import('../control-plane/commands/rollout.js') },
  rollback: { summary: 'put a cell back on its previous version', load: () => import('../control-plane/commands/rollback.js') },
  up: { summary: 'run the whole topology locally, supervised', load: () => import('../infra/topology/cli.js') },
  drill: { summary: 'run a k6 blast-radius drill (cell-crash, cell-hang, router-replica-kill, ...), write its report', load: () => import('../loadtest/cli.js') },
};

function topLevel(): Command {
  const program = new Command('cellctl')
    .description('cellsim: cell-based routing, cells, migrations, rollouts and fault drills')
    .usage('<command> [options]')
    .helpCommand(false)
    .addHelpText(
      'after',
      `\nCommands:\n${Object.entries(COMMANDS)
        .map(([name, e]) => `  ${name.padEnd(16)}${e.summary}`)
        .join(
          '\n',
        )}\n\nRun 'cellctl <command> --help' for a command's options. Every option can also be set\nwith a CELLSIM_* environment variable (--data <dir> ↔ CELLSIM_DATA).`,
    );
  return program;
}

function exitOverrideAll(cmd: Command): void {
  cmd.exitOverride();
  for (const sub of cmd.commands) exitOverrideAll(sub);
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  const entry = name === undefined ? undefined : COMMANDS[name];
  if (entry === undefined || name === undefined) {
    const program = topLevel();
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      program.outputHelp();
      return;
    }
    process.stderr.write(`cellctl: unknown command '${name}'. Run 'cellctl --help' for the list.\n`);
    process.exitCode = 2;
    return;
  }
  const mod = await entry.load();
  const cmd = bindEnv(mod.command().name(`cellctl ${name}`));
  exitOverrideAll(cmd);
  try {
    await cmd.parseAsync(rest, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    throw err;
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`cellctl: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
