/**
 * `cellctl cells shift <cell> --color green --percent N` and `--clear`: the cell record's weighted
 * shift written by hand, outside a rollout (docs/weighted-shifts.md §By hand): `POST
 * /admin/cells/:cell/shift`, audited, refused while a rollout runs.
 */
import { Command, InvalidArgumentError } from 'commander';
import type { CellRecord } from '../../shared/kv.js';
import { CommandError, connect, printJson, run, withConnection, type ConnFlags } from './common.js';

interface Flags extends ConnFlags {
  color?: 'blue' | 'green';
  percent?: number;
  clear?: boolean;
  dryRun?: boolean;
}

function parseColor(v: string): 'blue' | 'green' {
  if (v !== 'blue' && v !== 'green') throw new InvalidArgumentError(`'${v}' is not a color (blue or green)`);
  return v;
}

function parsePercent(v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d{1,2})?$/.test(v) || !(n > 0 && n <= 100))
    throw new InvalidArgumentError(`'${v}' is not a percent above 0 and at most 100 (two decimals at most)`);
  return n;
}

/** `cells shift`. */
export function shiftCommand(): Command {
  return withConnection(
    new Command('shift')
      .description(
        "send a share of a cell's requests to its other color (weighted, both planes), or --clear it; refused while a rollout runs",
      )
      .argument('<cell>', 'cell id')
      .option('--color <color>', 'the color that takes the share (not the active one): blue or green', parseColor)
      .option('--percent <n>', "share of the cell's requests, above 0 and at most 100 (e.g. 1, 12.5)", parsePercent)
      .option('--clear', 'remove the shift: the active color takes everything again')
      .option('--dry-run', 'print the record it would write; change nothing'),
  ).action(
    run('cells shift', async (cell: string, f: Flags) => {
      if (f.clear && (f.color !== undefined || f.percent !== undefined)) throw new CommandError('--clear takes no --color or --percent');
      if (!f.clear && (f.color === undefined || f.percent === undefined)) throw new CommandError('give --color and --percent, or --clear');
      const body = f.clear ? { clear: true } : { color: f.color, percent: f.percent };
      const out = await connect(f).post<{ cell: CellRecord; dryRun?: boolean; unchanged?: boolean }>(`/cells/${cell}/shift`, {
        ...body,
        ...(f.dryRun ? { dryRun: true } : {}),
      });
      if (f.json) return printJson(out);
      const r = out.cell;
      const what = r.shift
        ? `${r.shift.percent}% of ${r.id}'s requests to ${r.shift.color}, the rest to ${r.activeColor ?? 'blue'}`
        : `no shift: ${r.activeColor ?? 'blue'} takes all of ${r.id}'s requests`;
      const prefix = out.dryRun ? 'plan (dry run, nothing changed): ' : out.unchanged ? 'unchanged: ' : '';
      process.stdout.write(`${prefix}${what}\n`);
    }),
  );
}
