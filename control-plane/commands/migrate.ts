/**
 * `cellctl migrate <market> --to <cell>`: online market move with live progress; `--abort`, `--status`,
 * `--dry-run`; `--steps --header` moves it by request share (docs/weighted-shifts.md §Market moves by share).
 */
import { Command, InvalidArgumentError } from 'commander';
import type { MigrationRecord } from '../../shared/kv.js';
import type { MigrationPlan } from '../migration/migrator.js';
import { parseDurationMs } from '../../shared/cli.js';
import { CommandError, connect, printJson, run, withConnection, type ConnFlags } from './common.js';
import { describeMigration, follow, requireMoved } from './follow.js';

interface Flags extends ConnFlags {
  to?: string;
  dryRun?: boolean;
  abort?: boolean;
  status?: boolean;
  wait: boolean;
  waitCleanup?: boolean;
  steps?: number[];
  header?: string;
  bake?: number;
}

/** `--steps`: rising percents above 0 and below 100, in hundredths (as `cellctl rollout --steps`). */
function parseSteps(v: string): number[] {
  const steps = v.split(',').map(Number);
  if (
    steps.length > 10 ||
    steps.some((n, i) => !(n > 0 && n < 100) || Math.abs(n * 100 - Math.round(n * 100)) > 1e-6 || (i > 0 && n <= steps[i - 1]!))
  )
    throw new InvalidArgumentError(`'${v}' is not a rising list of at most 10 percents below 100, in hundredths (e.g. 1,10,50)`);
  return steps;
}

/** `--header`: a lowercase header name, not the market header nor an internal one (the API checks the rest). */
function parseHeader(v: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(v) || v === 'x-market-id' || v.startsWith('x-cellsim-') || v.startsWith('x-envoy-'))
    throw new InvalidArgumentError(`'${v}' is not a lowercase header name other than x-market-id, x-cellsim-*, x-envoy-*`);
  return v;
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
      .option('--wait-cleanup', 'also wait for the source cleanup after the grace period')
      .option(
        '--steps <percents>',
        "move by request share first, e.g. 1,10,50: at each step that share of the market's customers (by --header) moves to the target, its orders copied and compared, before the freeze and flip move the rest",
        parseSteps,
      )
      .option(
        '--header <name>',
        'with --steps: the request header carrying the customer id the orders are bucketed by (default x-customer-id)',
        parseHeader,
      )
      .option('--bake <duration>', 'with --steps: how long each step holds before the next (e.g. 30s; default 0s)', parseDurationMs),
  ).action(
    run('migrate', async (market: string, f: Flags) => {
      if ((f.header !== undefined || f.bake !== undefined) && f.steps === undefined)
        throw new CommandError(`${f.header !== undefined ? '--header' : '--bake'} goes with --steps`, 2);
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
      const share = f.steps
        ? { steps: f.steps, header: f.header ?? 'x-customer-id', ...(f.bake !== undefined ? { bakeMs: f.bake } : {}) }
        : {};
      if (f.dryRun) {
        const { plan } = await api.post<{ plan: MigrationPlan }>('/migrations', { market, to: f.to, ...share, dryRun: true });
        return f.json ? printJson(plan) : printPlan(plan);
      }
      const { migration } = await api.post<{ migration: MigrationRecord }>('/migrations', { market, to: f.to, ...share });
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
