/**
 * `cellctl evacuate <cell>`: drain the cell and migrate every market off it, a few at a time, with
 * progress; `--status` shows the evacuation's record (kept in Consul, so it survives a restart).
 */
import { Command } from 'commander';
import { parsePositiveInt } from '../../shared/cli.js';
import type { Evacuation } from '../admin/evacuation.js';
import type { RecoveryReport } from '../admin/recovery.js';
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
      .option('--status', "show the cell's evacuation (running or last), also after a control-plane restart")
      .option('--no-wait', 'return once the evacuation started')
      .option(
        '--from-backup',
        'the cell is dead: move its markets to healthy cells from its continuous backup (<data>/backups/<cell>); reports the recovery point',
      ),
  ).action(
    run(
      'evacuate',
      async (
        cell: string,
        f: ConnFlags & { concurrency: number; dryRun?: boolean; status?: boolean; wait: boolean; fromBackup?: boolean },
      ) => {
        const api = connect(f);
        if (f.status) {
          const { evacuation: e } = await api.get<{ evacuation: Evacuation }>(`/cells/${cell}/evacuation`);
          return f.json ? printJson(e) : void process.stdout.write(`${describeEvacuation(e)}\n`);
        }
        if (f.fromBackup) {
          const { recovery: r } = await api.post<{ recovery: RecoveryReport }>(`/cells/${cell}/evacuate`, {
            fromBackup: true,
            ...(f.dryRun ? { dryRun: true } : {}),
          });
          return f.json ? printJson(r) : void process.stdout.write(`${describeRecovery(r)}\n`);
        }
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
        else {
          process.stdout.write(`evacuation of ${cell} ${job.state}: ${job.moved.length} moved, ${job.failed.length} failed\n`);
          for (const x of job.failed) process.stdout.write(`  ${x.market}: ${x.error}\n`);
        }
        if (job.state === 'failed') throw new CommandError(`${job.failed.length} market(s) could not be moved off ${cell}`);
      },
    ),
  );
}

/** The evacuation in a few lines: state, counts, what moves now, who ran it. */
export function describeEvacuation(e: Evacuation): string {
  const lines = [
    `evacuation of ${e.cell}: ${e.state}, ${e.moved.length}/${e.total} moved, ${e.failed.length} failed${e.running.length ? `, moving ${e.running.join(', ')}` : ''}`,
    `  started ${e.startedAt} by ${e.by}${e.finishedAt ? `, finished ${e.finishedAt}` : ''}; control plane${e.owners.length > 1 ? 's' : ''} ${e.owners.join(' → ')}`,
  ];
  if (e.resumedAt) lines.push(`  resumed after a control-plane restart at ${e.resumedAt}`);
  for (const x of e.failed) lines.push(`  ${x.market}: ${x.error}`);
  return lines.join('\n');
}

/** A recovery from backup in a few lines: the recovery point, then each market with what the copy held. */
export function describeRecovery(r: RecoveryReport): string {
  const lines = [
    `${r.dryRun ? 'plan (dry run, nothing changed): recover' : 'recovered'} ${r.markets.length} market(s) of ${r.cell} from its backup in ${r.durationMs} ms`,
    `  recovery point ${r.recoveryPoint}: writes of the last ${r.rpoSeconds.toFixed(1)} s before the recovery may be lost; orders acknowledged after it are at risk`,
  ];
  if (r.delivery)
    lines.push(
      `  split cell: its delivery service's copy taken at ${r.delivery.recoveryPoint} (the recovery point above is the older of the two); the target's reconciliation repairs what differs between them`,
    );
  for (const m of r.markets)
    lines.push(
      `  ${m.market} → ${m.to}: ${m.orders} orders${r.dryRun ? '' : `, ${m.rows} rows`}${m.delivery ? `; delivery service ${m.delivery.deliveries} deliveries${r.dryRun ? '' : `, ${m.delivery.rows} rows`}` : ''}${m.newestOrderAt ? `, newest ${new Date(m.newestOrderAt).toISOString()}` : ''}`,
    );
  return lines.join('\n');
}
