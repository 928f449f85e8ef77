/**
 * cellctl: the one CLI of cellsim. This file only dispatches: each subcommand lives in its
 * part's own command module, loaded on demand so `cellctl router` never loads control-plane code.
 */
import { Command } from 'commander';
import { COMMANDS } from './commands.js';
import { reportFailure, runCommand } from './run-command.js';

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
        )}\n\nRun 'cellctl <command> --help' for a command's options. Every option can also be set\nwith a CELLSIM_* environment variable (--data <dir> ↔ CELLSIM_DATA); a flag's variable takes\ntrue, false, 1 or 0 (--dry-run ↔ CELLSIM_DRY_RUN=1).`,
    );
  return program;
}

// A reader that stops early (`cellctl markets | head`) closes the pipe: that ends the output, not the
// program with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

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
  await runCommand(name, await entry.load(), rest);
}

main(process.argv.slice(2)).catch(reportFailure);
