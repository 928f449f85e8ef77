/** `cellctl drain <cell>`: the cell takes no new markets (its markets stay); `--undo` makes it active again. */
import { Command } from 'commander';
import type { CellRecord } from '../../shared/kv.js';
import { connect, printJson, run, withConnection, type ConnFlags } from './common.js';

/** The command module. */
export function command(): Command {
  return withConnection(
    new Command('drain')
      .description('mark a cell draining: no new markets or migrations to it (use evacuate to move its markets away)')
      .argument('<cell>', 'cell id')
      .option('--undo', 'make the cell active again')
      .option('--dry-run', 'print the new cell record; change nothing'),
  ).action(
    run('drain', async (cell: string, f: ConnFlags & { undo?: boolean; dryRun?: boolean }) => {
      const out = await connect(f).post<{ cell: CellRecord }>(
        `/cells/${cell}/${f.undo ? 'activate' : 'drain'}`,
        f.dryRun ? { dryRun: true } : {},
      );
      if (f.json) return printJson(out);
      process.stdout.write(`${f.dryRun ? 'plan (dry run, nothing changed): ' : ''}${cell} is ${out.cell.state}\n`);
    }),
  );
}
