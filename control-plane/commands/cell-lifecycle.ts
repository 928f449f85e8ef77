/**
 * `cellctl cells add <id>`: a new cell (its record; under `cellctl up` its process, active once it
 * passes its checks; elsewhere the command line that starts it). `cellctl cells retire <id>`: a cell
 * with no market goes (process, registration, record); `--evacuate` moves its markets off first.
 */
import { Command } from 'commander';
import { parseDurationMs, parsePositiveInt } from '../../shared/cli.js';
import type { CellRecord } from '../../shared/kv.js';
import type { Evacuation } from '../admin/evacuation.js';
import type { Added } from '../admin/lifecycle.js';
import { CommandError, connect, printJson, run, sleep, withConnection, type Api, type ConnFlags } from './common.js';
import { describeEvacuation } from './evacuate.js';

const VERSION_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** `cells add`. */
export function addCommand(): Command {
  return withConnection(
    new Command('add')
      .description('add a cell: its record, and under cellctl up its process (routed once it passes its checks)')
      .argument('<cell>', 'cell id (^[a-z0-9][a-z0-9-]{0,62}$)')
      .option('--capacity <n>', 'markets the cell has room for (default 40)', parsePositiveInt)
      .option('--version <version>', 'version it runs (default: the version most cells run)')
      .option('--dry-run', 'print the record it would write; change nothing'),
  ).action(
    run('cells add', async (cell: string, f: ConnFlags & { capacity?: number; version?: string; dryRun?: boolean }) => {
      if (f.version !== undefined && !VERSION_RE.test(f.version))
        throw new CommandError(`'${f.version}' is not a version (${VERSION_RE.source})`);
      const out = await connect(f).post<Added & { dryRun?: boolean; plan?: { record: CellRecord; supervised: boolean } }>(
        `/cells/${cell}/add`,
        {
          ...(f.capacity === undefined ? {} : { capacity: f.capacity }),
          ...(f.version === undefined ? {} : { version: f.version }),
          ...(f.dryRun ? { dryRun: true } : {}),
        },
      );
      if (f.json) return printJson(out);
      if (out.plan) {
        const r = out.plan.record;
        process.stdout.write(`plan (dry run, nothing changed): add ${r.id} (capacity ${r.capacity}, version ${r.version})`);
        return void process.stdout.write(out.plan.supervised ? ', started by the supervisor\n' : '; start it yourself\n');
      }
      const r = out.record;
      if (out.started)
        process.stdout.write(
          `added ${r.id} (capacity ${r.capacity}, version ${r.version}): passing its checks after ${out.passingAfterMs} ms, active\n`,
        );
      else
        process.stdout.write(
          `added ${r.id} (capacity ${r.capacity}, version ${r.version}); no supervisor here: start it with\n  ${out.run}\n`,
        );
    }),
  );
}

type RetireAnswer = {
  retired?: boolean;
  dryRun?: boolean;
  plan?: unknown;
  evacuation?: Evacuation;
  stopped?: boolean;
  deregistered?: string[];
};

/** Polls the cell's evacuation until it ends; throws when it failed. */
async function waitEvacuation(api: Api, cell: string, quiet: boolean): Promise<void> {
  for (;;) {
    const { evacuation: e } = await api.get<{ evacuation: Evacuation }>(`/cells/${cell}/evacuation`);
    if (e.state === 'failed') throw new CommandError(`evacuation of ${cell} failed; the cell stays:\n${describeEvacuation(e)}`);
    if (e.state === 'done') return void (quiet || process.stdout.write(`  evacuated: ${e.moved.length} market(s) moved\n`));
    await sleep(250);
  }
}

/** `cells retire`. */
export function retireCommand(): Command {
  return withConnection(
    new Command('retire')
      .description('retire a cell: refused while it owns markets (unless --evacuate); then its process, registration and record go')
      .argument('<cell>', 'cell id')
      .option('--evacuate', 'move its markets off first (online migrations), then retire it')
      .option('--concurrency <n>', 'migrations at a time with --evacuate', parsePositiveInt, 2)
      .option('--timeout <duration>', 'how long to wait for running work on the cell (migrations ending)', parseDurationMs, 180_000)
      .option('--dry-run', 'print what would happen; change nothing'),
  ).action(
    run(
      'cells retire',
      async (cell: string, f: ConnFlags & { evacuate?: boolean; concurrency: number; timeout: number; dryRun?: boolean }) => {
        const api = connect(f);
        const say = (line: string) => void (f.json || process.stdout.write(`${line}\n`));
        const deadline = Date.now() + f.timeout;
        let waiting = '';
        for (;;) {
          let out: RetireAnswer;
          try {
            out = await api.post<RetireAnswer>(`/cells/${cell}/retire`, {
              ...(f.evacuate ? { evacuate: true, concurrency: f.concurrency } : {}),
              ...(f.dryRun ? { dryRun: true } : {}),
            });
          } catch (err) {
            if (!(err instanceof CommandError && err.apiCode === 'cell_busy') || Date.now() > deadline) throw err;
            if (err.message !== waiting) say(`  waiting: ${(waiting = err.message)}`);
            await sleep(1000);
            continue;
          }
          if (out.dryRun) return f.json ? printJson(out) : say(`plan (dry run, nothing changed): ${JSON.stringify(out.plan)}`);
          if (out.retired) {
            if (f.json) return printJson(out);
            return say(
              `retired ${cell}: record deleted, ${out.stopped ? 'processes stopped' : 'stop its processes yourself'}, ${out.deregistered?.length ?? 0} registration(s) removed`,
            );
          }
          say(`evacuating ${cell} first: ${out.evacuation?.total ?? 0} market(s), ${f.concurrency} at a time`);
          await waitEvacuation(api, cell, f.json === true);
        }
      },
    ),
  );
}
