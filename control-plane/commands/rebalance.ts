/**
 * `cellctl rebalance`: measures every cell's load, prints the plan (which markets move where, and
 * each cell's load before and after), then runs the moves as online migrations, a few at a time.
 */
import { Command, InvalidArgumentError } from 'commander';
import { parseDurationMs, parsePositiveInt } from '../../shared/cli.js';
import type { MigrationRecord } from '../../shared/kv.js';
import type { Move } from '../placement/plan.js';
import { CommandError, connect, printJson, run, withConnection, type ConnFlags } from './common.js';
import { describeMigration, follow } from './follow.js';

type Row = { cell: string; markets: number; rps: number; utilization: number };
type Answer = { plan: Move[]; before: Row[]; after: Row[] };
type Flags = ConnFlags & { dryRun?: boolean; maxMoves: number; concurrency: number; window: number; tolerance?: number };

function parseTolerance(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 10) throw new InvalidArgumentError(`'${v}' is not a tolerance from 0 to 10`);
  return n;
}

/** The plan as text: the moves, then each cell's markets, rps and rps per unit of capacity before → after. */
export function describePlan(a: Answer): string {
  const lines = a.plan.length
    ? a.plan.map((m) => `  ${m.market}: ${m.from} → ${m.to} (${m.rps} req/s)`)
    : ['  nothing to move: every cell is within the tolerance'];
  lines.push('  cell        markets  req/s            req/s per capacity');
  for (const b of a.before) {
    const x = a.after.find((r) => r.cell === b.cell) ?? b;
    lines.push(
      `  ${b.cell.padEnd(10)}  ${`${b.markets} → ${x.markets}`.padEnd(7)}  ${`${b.rps} → ${x.rps}`.padEnd(15)}  ${b.utilization} → ${x.utilization}`,
    );
  }
  return lines.join('\n');
}

/** The command module. */
export function command(): Command {
  return withConnection(
    new Command('rebalance')
      .description('move markets from the busiest cells to the least busy, by load measured against capacity (online migrations)')
      .option('--dry-run', 'print the plan and the expected load after it; move nothing')
      .option('--max-moves <n>', 'moves at most', parsePositiveInt, 6)
      .option('--concurrency <n>', 'migrations at a time', parsePositiveInt, 2)
      .option('--window <duration>', 'how long to measure the load', parseDurationMs, 3000)
      .option('--tolerance <fraction>', 'a cell is busy when over the mean load by more than this (default 0.2)', parseTolerance),
  ).action(
    run('rebalance', async (f: Flags) => {
      const api = connect(f);
      const a = await api.post<Answer>('/rebalance', {
        maxMoves: f.maxMoves,
        windowMs: f.window,
        ...(f.tolerance === undefined ? {} : { tolerance: f.tolerance }),
        ...(f.dryRun ? { dryRun: true } : {}),
      });
      if (f.dryRun) return f.json ? printJson(a) : void process.stdout.write(`plan (dry run, nothing moved):\n${describePlan(a)}\n`);
      if (!f.json) process.stdout.write(`plan:\n${describePlan(a)}\n`);
      const queue = [...a.plan];
      const done: { move: Move; migration?: MigrationRecord; error?: string }[] = [];
      const worker = async () => {
        for (let move = queue.shift(); move; move = queue.shift()) {
          try {
            await api.post('/migrations', { market: move.market, to: move.to });
            const m = await follow(api, move.market, true);
            done.push({ move, migration: m, ...(m.state === 'rolled-back' || m.state === 'failed' ? { error: m.error ?? m.state } : {}) });
            if (!f.json) process.stdout.write(`  ${describeMigration(m)}\n`);
          } catch (err) {
            done.push({ move, error: (err as Error).message });
            if (!f.json) process.stdout.write(`  ${move.market}: ${(err as Error).message}\n`);
          }
        }
      };
      await Promise.all(Array.from({ length: f.concurrency }, worker));
      const failed = done.filter((x) => x.error);
      if (f.json) printJson({ ...a, moves: done });
      else process.stdout.write(`rebalance: ${done.length - failed.length} moved, ${failed.length} failed\n`);
      if (failed.length) throw new CommandError(`${failed.length} move(s) failed: ${failed.map((x) => x.move.market).join(', ')}`);
    }),
  );
}
