/** `cellctl migrate <market> --to <cell>`: online market move with live progress; `--abort`, `--status`, `--dry-run`. */
import { Command } from 'commander';
import type { MigrationRecord } from '../../shared/kv.js';
import type { MigrationPlan } from '../migration/migrator.js';
import { CommandError, connect, printJson, run, withConnection, type ConnFlags } from './common.js';
import { describeMigration, follow, requireMoved } from './follow.js';

interface Flags extends ConnFlags {
  to?: string;
  dryRun?: boolean;
  abort?: boolean;
  status?: boolean;
  wait: boolean;
  waitCleanup?: boolean;
}

/** Prints a plan. */
export function printPlan(plan: MigrationPlan): void {
  process.stdout.write(`plan (dry run, nothing changed): move ${plan.market} ${plan.from} → ${plan.to}\n`);
  plan.steps.forEach((s, i) => process.stdout.write(`  ${i + 1}. ${s}\n`));
}

/** The command module. */
export function command(): Command {
  return withConnection(
    new Command('migrate')
      .description(
        'move a market to another cell while traffic flows: copy, freeze, delta, flip by CAS, release; rolled back on any failure',
      )
      .argument('<market>', 'market id')
      .option('--to <cell>', 'target cell')
      .option('--dry-run', 'check the move and print its plan (with --abort: check that the abort would be taken); change nothing')
      .option('--abort', "roll back the market's running migration (before its flip)")
      .option('--status', "show the market's last migration record")
      .option('--no-wait', 'return once the migration started')
      .option('--wait-cleanup', 'also wait for the source cleanup after the grace period'),
  ).action(
    run('migrate', async (market: string, f: Flags) => {
      const api = connect(f);
      if (f.status) {
        const { migration } = await api.get<{ migration: MigrationRecord }>(`/migrations/${market}`);
        return f.json ? printJson(migration) : void process.stdout.write(`${migration.state}: ${describeMigration(migration)}\n`);
      }
      if (f.abort && f.dryRun) {
        const { migration } = await api.post<{ migration: MigrationRecord }>(`/migrations/${market}/abort`, { dryRun: true });
        if (f.json) return printJson(migration);
        return void process.stdout.write(`dry run: the migration of ${market} (${migration.state}) can be aborted; nothing changed\n`);
      }
      if (f.abort) {
        const { migration } = await api.post<{ migration: MigrationRecord }>(`/migrations/${market}/abort`);
        if (f.json) return printJson(migration);
        process.stdout.write(`abort requested for the migration of ${market} (${migration.from} → ${migration.to}); it rolls back\n`);
        const end = await follow(api, market, true, true);
        process.stdout.write(`${describeMigration(end)}\n`);
        return;
      }
      if (!f.to) throw new CommandError('missing --to <cell> (or use --abort / --status)', 2);
      if (f.dryRun) {
        const { plan } = await api.post<{ plan: MigrationPlan }>('/migrations', { market, to: f.to, dryRun: true });
        return f.json ? printJson(plan) : printPlan(plan);
      }
      const { migration } = await api.post<{ migration: MigrationRecord }>('/migrations', { market, to: f.to });
      if (!f.wait)
        return f.json
          ? printJson(migration)
          : void process.stdout.write(`started ${migration.id}: ${market} ${migration.from} → ${f.to}\n`);
      if (!f.json) process.stdout.write(`migrating ${market} ${migration.from} → ${f.to} (${migration.id})\n`);
      const end = await follow(api, market, f.json === true, f.waitCleanup === true);
      if (f.json) printJson(end);
      else process.stdout.write(`${describeMigration(end)}\n`);
      requireMoved(end);
    }),
  );
}
