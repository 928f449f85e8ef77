/** `cellctl evacuate <cell>`: drain the cell and migrate every market off it, a few at a time, with progress. */
import { Command } from 'commander';
import { parsePositiveInt } from '../../shared/cli.js';
import type { Evacuation } from '../admin/evacuation.js';
import { CommandError, Progress, connect, printJson, run, sleep, withConnection, type ConnFlags } from './common.js';

type Plan = { market: string; to: string }[];

/** The command module. */
export function command(): Command {
  return withConnection(
    new Command('evacuate')
      .description('drain a cell and move every market off it (online migrations, a few at a time)')
      .argument('<cell>', 'cell id')
      .option('--concurrency <n>', 'migrations at a time', parsePositiveInt, 2)
      .option('--dry-run', 'print which market goes where; change nothing')
      .option('--no-wait', 'return once the evacuation started'),
  ).action(
    run('evacuate', async (cell: string, f: ConnFlags & { concurrency: number; dryRun?: boolean; wait: boolean }) => {
      const api = connect(f);
      const a = await api.post<{ plan: Plan; evacuation?: Evacuation }>(`/cells/${cell}/evacuate`, {
        concurrency: f.concurrency,
        ...(f.dryRun ? { dryRun: true } : {}),
      });
      if (f.dryRun) {
        if (f.json) return printJson(a.plan);
        process.stdout.write(`plan (dry run, nothing changed): evacuate ${cell} (${a.plan.length} markets)\n`);
        for (const p of a.plan) process.stdout.write(`  ${p.market} → ${p.to}\n`);
        return;
      }
      if (!f.json) process.stdout.write(`evacuating ${cell}: ${a.plan.length} markets, ${f.concurrency} at a time (cell now draining)\n`);
      if (!f.wait) return f.json ? printJson(a) : undefined;
      const progress = new Progress(a.plan.length, f.json === true);
      let job: Evacuation;
      try {
        for (;;) {
          job = (await api.get<{ evacuation: Evacuation }>(`/cells/${cell}/evacuation`)).evacuation;
          const done = job.moved.length + job.failed.length;
          progress.update(done, `${done}/${job.total} moved${job.running.length ? `, moving ${job.running.join(', ')}` : ''}`);
          if (job.state !== 'running') break;
          await sleep(200);
        }
      } finally {
        progress.stop();
      }
      if (f.json) printJson(job);
      else process.stdout.write(`evacuation of ${cell} ${job.state}: ${job.moved.length} moved, ${job.failed.length} failed\n`);
      for (const x of job.failed) process.stdout.write(`  ${x.market}: ${x.error}\n`);
      if (job.state === 'failed') throw new CommandError(`${job.failed.length} market(s) could not be moved off ${cell}`);
    }),
  );
}
