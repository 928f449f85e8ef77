/**
 * `cellctl experiment start|status|stop <market>`: a market's A/B experiment between its cell's
 * two colors by a hash of a request header (docs/experiments.md,
 * docs/operators.md §A/B experiments). start and stop go through the admin API (`POST /admin/markets/:market/experiment`,
 * `.../experiment/stop`: audited, dry-runnable); status reads the record there and each plane's
 * per-arm figures from the routers' `/metrics` and the Envoys' admin `/stats/prometheus` (HTTPS
 * routers of `cellctl up --tls` through the topology's CA client, common.ts `topologyCaClient`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import type { MarketRecord } from '../../shared/kv.js';
import { experimentStats, type ArmStats, type ExperimentStats } from '../experiment-stats.js';
import { connect, printJson, run, topologyCaClient, withConnection, type ConnFlags } from './common.js';

function parseColor(v: string): 'blue' | 'green' {
  if (v !== 'blue' && v !== 'green') throw new InvalidArgumentError(`'${v}' is not a color (blue or green)`);
  return v;
}

function parsePercent(v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d{1,2})?$/.test(v) || !(n >= 0 && n <= 100))
    throw new InvalidArgumentError(`'${v}' is not a percent from 0 to 100 (two decimals at most)`);
  return n;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

interface Written {
  market: string;
  record: MarketRecord;
  dryRun?: boolean;
  unchanged?: boolean;
}

interface Status {
  market: string;
  cell: string;
  activeColor: 'blue' | 'green' | null;
  experiment: MarketRecord['experiment'] | null;
  live: boolean;
}

function describe(out: Written): string {
  const x = out.record.experiment;
  const what = x
    ? `${out.market}: requests with ${x.header} in ${x.percent}% of its buckets go to ${x.color}, other keyed ones to the active color`
    : `${out.market}: no experiment`;
  return `${out.dryRun ? 'plan (dry run, nothing changed): ' : out.unchanged ? 'unchanged: ' : ''}${what}\n`;
}

/** The routers and Envoy admins of the topology in `data` (none when it has no topology.json). */
function topologySources(data: string): { routers: string[]; envoyAdmins: string[] } {
  const file = join(resolve(data), 'topology.json');
  if (!existsSync(file)) return { routers: [], envoyAdmins: [] };
  const t = JSON.parse(readFileSync(file, 'utf8')) as { routers?: { url?: string }[]; envoys?: { admin?: string }[] };
  return {
    routers: (t.routers ?? []).flatMap((r) => (r.url ? [r.url] : [])),
    envoyAdmins: (t.envoys ?? []).flatMap((e) => (e.admin ? [e.admin] : [])),
  };
}

function line(plane: string, a: ArmStats): string {
  const err = a.errorPct === null ? '-' : `${a.errorPct.toFixed(2)}%`;
  const p99 = a.p99Ms === null ? '-' : `${a.p99Ms} ms`;
  return `  ${plane.padEnd(6)} ${a.arm.padEnd(7)} ${a.color.padEnd(5)} ${String(a.requests).padStart(8)} ${err.padStart(8)} ${p99.padStart(9)}\n`;
}

function startCommand(): Command {
  return withConnection(
    new Command('start')
      .description("split a market's keyed requests between its cell's colors by a hash of --header (starts or changes the experiment)")
      .argument('<market>', 'market id')
      .requiredOption('--header <name>', 'the request header that keys the split, lowercase (e.g. x-customer-id)')
      .requiredOption('--percent <n>', 'share of the keys that go to the variant color, 0 to 100', parsePercent)
      .option('--color <color>', 'the variant color (default: the color that is not active)', parseColor)
      .option('--dry-run', 'print the record it would write; change nothing'),
  ).action(
    run(
      'experiment start',
      async (market: string, f: ConnFlags & { header: string; percent: number; color?: string; dryRun?: boolean }) => {
        const out = await connect(f).post<Written>(`/markets/${market}/experiment`, {
          header: f.header,
          percent: f.percent,
          ...(f.color ? { color: f.color } : {}),
          ...(f.dryRun ? { dryRun: true } : {}),
        });
        if (f.json) return printJson(out);
        process.stdout.write(describe(out));
      },
    ),
  );
}

function stopCommand(): Command {
  return withConnection(
    new Command('stop')
      .description("end a market's experiment: every request goes to the active color again")
      .argument('<market>', 'market id')
      .option('--dry-run', 'print the record it would write; change nothing'),
  ).action(
    run('experiment stop', async (market: string, f: ConnFlags & { dryRun?: boolean }) => {
      const out = await connect(f).post<Written>(`/markets/${market}/experiment/stop`, f.dryRun ? { dryRun: true } : {});
      if (f.json) return printJson(out);
      process.stdout.write(describe(out));
    }),
  );
}

function statusCommand(): Command {
  return withConnection(
    new Command('status')
      .description("a market's experiment and each arm's requests, error rate and p99 on each plane (since each process started)")
      .argument('<market>', 'market id')
      .option('--router <url>', 'a router to read /metrics from (repeatable; default: the topology of --data)', collect)
      .option('--envoy-admin <url>', "an Envoy admin to read /stats/prometheus from (repeatable; default: the topology's)", collect),
  ).action(
    run('experiment status', async (market: string, f: ConnFlags & { router?: string[]; envoyAdmin?: string[] }) => {
      const st = await connect(f).get<Status>(`/markets/${market}/experiment`);
      let stats: ExperimentStats | undefined;
      if (st.experiment && st.activeColor) {
        const topo = topologySources(f.data);
        const routers = f.router ?? topo.routers;
        const envoyAdmins = f.envoyAdmin ?? topo.envoyAdmins;
        // Under `cellctl up --tls` the routers serve HTTPS of the topology's own CA; under `--hosts
        // --tls` Envoys' admin paths are mutual TLS, read with the control plane's certificate.
        const adminTls = envoyAdmins.some((u) => u.startsWith('https:'));
        const client =
          adminTls || routers.some((u) => u.startsWith('https:'))
            ? topologyCaClient(f.data, adminTls ? 'control-plane' : undefined)
            : undefined;
        try {
          const arms = { market, cell: st.cell, variant: st.experiment.color, control: st.activeColor };
          stats = await experimentStats(arms, routers, envoyAdmins, client?.fetch);
        } finally {
          await client?.close();
        }
      }
      if (f.json) return printJson({ ...st, stats: stats ?? null });
      const x = st.experiment;
      if (!x) return void process.stdout.write(`${market} (${st.cell}): no experiment\n`);
      process.stdout.write(
        `${market} (${st.cell}, active ${st.activeColor ?? 'none'}): ${x.percent}% of ${x.header} keys to ${x.color}${st.live ? '' : ' (not live: its color is the active one, or the market is moving)'}\n`,
      );
      if (!stats) return;
      process.stdout.write(`  plane  arm     color  requests   errors       p99\n`);
      for (const a of stats.router) process.stdout.write(line('router', a));
      for (const a of stats.envoy) process.stdout.write(line('envoy', a));
      if (stats.unreachable.length > 0) process.stdout.write(`  not answering: ${stats.unreachable.join(', ')}\n`);
    }),
  );
}

/** The command module. */
export function command(): Command {
  return new Command('experiment')
    .description("A/B experiments: split a market's requests between its cell's two colors by a hash of a request header")
    .addCommand(startCommand())
    .addCommand(statusCommand())
    .addCommand(stopCommand());
}
