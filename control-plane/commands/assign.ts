/**
 * `cellctl assign <market> [cell]`: puts a new market on a cell, or moves an existing one there (an
 * online migration); without a cell, the control plane picks one by measured load against capacity.
 */
import { Command } from 'commander';
import type { MarketRecord, MigrationRecord } from '../../shared/kv.js';
import type { MigrationPlan } from '../migration/migrator.js';
import { connect, printJson, run, withConnection, type ConnFlags } from './common.js';
import { describeMigration, follow, requireMoved } from './follow.js';
import { printPlan } from './migrate.js';

type Answer =
  | { migration: MigrationRecord }
  | { market: string; record: MarketRecord; unchanged?: boolean }
  | { dryRun: true; plan: MigrationPlan | { market: string; create: MarketRecord } };

/** The command module. */
export function command(): Command {
  return withConnection(
    new Command('assign')
      .description('assign a market to a cell: creates a new market there, or migrates an existing one online')
      .argument('<market>', 'market id')
      .argument('[cell]', 'cell id (default: chosen by measured load against capacity)')
      .option('--dry-run', 'print what would happen; change nothing'),
  ).action(
    run('assign', async (market: string, chosen: string | undefined, f: ConnFlags & { dryRun?: boolean }) => {
      const api = connect(f);
      const a = await api.post<Answer>(`/markets/${market}/assign`, {
        ...(chosen ? { cell: chosen } : {}),
        ...(f.dryRun ? { dryRun: true } : {}),
      });
      const cell =
        chosen ?? ('migration' in a ? a.migration.to : 'record' in a ? a.record.cell : 'create' in a.plan ? a.plan.create.cell : a.plan.to);
      if ('dryRun' in a) {
        if (f.json) return printJson(a.plan);
        if ('create' in a.plan)
          return void process.stdout.write(`plan (dry run, nothing changed): create ${market} on ${cell} (epoch 1)\n`);
        return printPlan(a.plan);
      }
      if ('migration' in a) {
        if (!f.json) process.stdout.write(`${market} exists on ${a.migration.from}: migrating it to ${cell}\n`);
        const end = await follow(api, market, f.json === true);
        if (f.json) printJson(end);
        else process.stdout.write(`${describeMigration(end)}\n`);
        return requireMoved(end);
      }
      if (f.json) return printJson(a);
      process.stdout.write(
        a.unchanged ? `${market} is already on ${cell}; nothing to do\n` : `assigned new market ${market} to ${cell} (epoch 1)\n`,
      );
    }),
  );
}
