/** `cellctl rollback <cell>`: put one cell back on the version it ran before the last rollout. */
import { Command } from 'commander';
import { connect, printJson, run, withConnection, type ConnFlags } from './common.js';

/** The command module. */
export function command(): Command {
  return withConnection(
    new Command('rollback')
      .description('put a cell back on its previous version (blue/green switch); a running rollout is stopped with rollout --abort')
      .argument('<cell>', 'cell id')
      .option('--dry-run', 'check the cell; change nothing'),
  ).action(
    run('rollback', async (cell: string, f: ConnFlags & { dryRun?: boolean }) => {
      const out = await connect(f).post<{ rollback?: { from: string; to: string; color: string }; cell?: unknown }>(
        `/cells/${cell}/rollback`,
        f.dryRun ? { dryRun: true } : {},
      );
      if (f.json) return printJson(out);
      if (!out.rollback) return void process.stdout.write(`plan (dry run, nothing changed): roll ${cell} back to its previous version\n`);
      process.stdout.write(`${cell} rolled back ${out.rollback.from} → ${out.rollback.to} (now on ${out.rollback.color})\n`);
    }),
  );
}
