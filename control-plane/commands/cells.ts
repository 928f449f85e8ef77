/**
 * `cellctl cells`: every cell with its state, flags, version, active color, health and load;
 * `cellctl cells add <id>` and `cellctl cells retire <id>` (control-plane/commands/cell-lifecycle.ts);
 * `cellctl cells shift <id>` (control-plane/commands/cell-shift.ts); `cellctl cells scale <id>
 * --delivery <n>` (control-plane/commands/cell-scale.ts).
 */
import { Command } from 'commander';
import type { CellView } from '../admin/views.js';
import { addCommand, retireCommand } from './cell-lifecycle.js';
import { scaleCommand } from './cell-scale.js';
import { shiftCommand } from './cell-shift.js';
import { connect, printJson, run, withConnection, type ConnFlags } from './common.js';
import { cellsTable } from './status.js';

/** The command module. */
export function command(): Command {
  return withConnection(
    new Command('cells')
      .description('list cells: state, canary/global, version, active color, health, markets; add, retire, shift or scale one')
      // the listing's options come before a subcommand; each subcommand has its own
      .enablePositionalOptions(),
  )
    .addCommand(addCommand())
    .addCommand(retireCommand())
    .addCommand(shiftCommand())
    .addCommand(scaleCommand())
    .action(
      run('cells', async (f: ConnFlags) => {
        const { cells } = await connect(f).get<{ cells: CellView[] }>('/cells');
        if (f.json) return printJson(cells);
        process.stdout.write(`${cellsTable(cells)}\n`);
      }),
    );
}
