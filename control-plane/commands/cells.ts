/** `cellctl cells`: every cell with its state, flags, version, active color, health and load. */
import { Command } from 'commander';
import type { CellView } from '../admin/views.js';
import { connect, printJson, run, withConnection, type ConnFlags } from './common.js';
import { cellsTable } from './status.js';

/** The command module. */
export function command(): Command {
  return withConnection(
    new Command('cells').description('list cells: state, canary/global, version, active color, health, markets'),
  ).action(
    run('cells', async (f: ConnFlags) => {
      const { cells } = await connect(f).get<{ cells: CellView[] }>('/cells');
      if (f.json) return printJson(cells);
      process.stdout.write(`${cellsTable(cells)}\n`);
    }),
  );
}
