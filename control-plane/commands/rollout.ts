/**
 * `cellctl rollout <version>`: cell-0 first (stage green beside blue, switch, bake, SLO check),
 * then the other cells in waves; automatic rollback on a breach. `--status`, `--abort`.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { neverFromEnv, parseDurationMs } from '../../shared/cli.js';
import type { RolloutRecord } from '../../shared/kv.js';
import { DEFAULT_VERSIONS, loadVersions } from '../rollout/versions.js';
import { CommandError, connect, printJson, run, sleep, withConnection, type ConnFlags } from './common.js';

interface Flags extends ConnFlags {
  versionsFile?: string;
  bake?: number;
  warmup?: number;
  waves?: number[];
  allowIdle?: boolean;
  steps?: number[];
  role: 'cell' | 'delivery';
  maxLag?: number;
  dryRun?: boolean;
  status?: boolean;
  abort?: boolean;
  wait: boolean;
}

function parseSteps(v: string): number[] {
  const steps = v.split(',').map(Number);
  if (steps.some((n, i) => !(n > 0 && n < 100) || (i > 0 && n <= steps[i - 1]!)))
    throw new InvalidArgumentError(`'${v}' is not a rising list of percents below 100 (e.g. 1,10,50)`);
  return steps;
}

function parseMaxLag(v: string): number {
  const n = Number(v);
  if (!/^[1-9][0-9]{0,7}$/.test(v)) throw new InvalidArgumentError(`'${v}' is not a number of records (1 or more)`);
  return n;
}

function parseWaves(v: string): number[] {
  const sizes = v.split(',').map(Number);
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1))
    throw new InvalidArgumentError(`'${v}' is not a list of wave sizes (e.g. 1,2)`);
  return sizes;
}

/** One line per wave: cells, state, verdict. */
export function describeRollout(r: RolloutRecord): string {
  const waves = r.waves.map(
    (w, i) =>
      `  wave ${i} [${w.cells.join(', ')}]: ${w.state}${w.steps?.length ? ` after ${w.steps.map((s) => `${s.percent}%${s.verdict ? (s.verdict.pass ? ' ok' : ' BREACHED') : ''}`).join(', ')}` : ''}${w.verdict ? ` (${w.verdict.reason}; ${w.verdict.requests} requests)` : ''}${(w.delivery ?? []).map((v) => `\n    ${v.cell}: ${v.pass ? 'ok' : 'BREACHED'} (${v.reason})`).join('')}`,
  );
  const what = r.role === 'delivery' ? `${r.version} (delivery service)` : r.version;
  return [`rollout ${r.id} of ${what}: ${r.state}${r.report ? ` (${r.report})` : ''}`, ...waves].join('\n');
}

/** The command module. */
export function command(): Command {
  return withConnection(
    new Command('rollout')
      .description(
        'roll a cell version out: canary cell-0 first (bake, SLO check), then the other cells in waves; automatic rollback on a breach',
      )
      .argument('[version]', 'version to roll out (listed in the versions file)')
      .option('--versions-file <file>', 'versions file (default: <data>/versions.json, else the built-in list)')
      .option('--bake <duration>', 'bake time of each wave (e.g. 30s)', parseDurationMs)
      .option(
        '--warmup <duration>',
        "the first part of each bake not judged, at most half of it (e.g. 1s): a new instance's first requests are cold (default 0)",
        parseDurationMs,
      )
      .option('--waves <sizes>', 'sizes of the waves after the canary, e.g. 1,2 (the last repeats)', parseWaves)
      .option(
        '--steps <percents>',
        "weighted steps of each wave before its full switch, e.g. 1,10,50: that share of the wave's traffic on the new version, each baked and judged",
        parseSteps,
      )
      // Never from CELLSIM_ROLE: that variable is `cellctl cell --role` (all|order|delivery), and an
      // exported CELLSIM_ROLE=order made every `cellctl rollout` a usage error.
      .addOption(
        neverFromEnv(
          new Option(
            '--role <role>',
            "what is replaced: cell (the cells' instances; a split cell's order service) or delivery (a split cell's delivery instances, one at a time, under cellctl up --log kafka)",
          )
            .choices(['cell', 'delivery'])
            .default('cell'),
        ),
      )
      .option(
        '--max-lag <records>',
        "with --role delivery: the consumer group's lag above which (and above where it stood) a cell's new delivery version breaches (default 100)",
        parseMaxLag,
      )
      .option(
        '--allow-idle',
        'accept a wave whose bake saw fewer than 20 requests (default: such a wave fails and rolls back, since it proves nothing)',
      )
      .option('--dry-run', 'print the waves (with --abort: check that the abort would be taken); change nothing')
      .option('--status', 'show the running (or last) rollout')
      .option('--abort', 'stop the running rollout and roll every touched cell back')
      .option('--no-wait', 'return once the rollout started'),
  ).action(
    run('rollout', async (version: string | undefined, f: Flags) => {
      const api = connect(f);
      if (f.status) {
        const { running, rollouts } = await api.get<{ running: RolloutRecord | null; rollouts: RolloutRecord[] }>('/rollouts');
        const r = running ?? rollouts[0];
        if (f.json) return printJson(r ?? null);
        return void process.stdout.write(r ? `${describeRollout(r)}\n` : 'no rollout yet\n');
      }
      if (f.abort && f.dryRun) {
        const { rollout } = await api.post<{ rollout: RolloutRecord }>('/rollouts/abort', { dryRun: true });
        if (f.json) return printJson(rollout);
        return void process.stdout.write(
          `dry run: rollout ${rollout.id} (${rollout.version}) is running and can be aborted; nothing changed\n`,
        );
      }
      if (f.abort) {
        const { rollout } = await api.post<{ rollout: RolloutRecord }>('/rollouts/abort');
        if (!f.json) process.stdout.write(`abort requested for rollout ${rollout.id} (${rollout.version}); rolling back\n`);
        const end = await watch(api, rollout.id, true);
        return f.json ? printJson(end) : void process.stdout.write(`${describeRollout(end)}\n`);
      }
      if (!version) throw new CommandError('missing <version> (or use --status / --abort)', 2);
      const file = f.versionsFile ? resolve(f.versionsFile) : join(resolve(f.data), 'versions.json');
      const versions = f.versionsFile || existsSync(file) ? loadVersions(file).versions : DEFAULT_VERSIONS.versions;
      const spec = versions[version];
      if (!spec) throw new CommandError(`unknown version '${version}' (the versions file lists: ${Object.keys(versions).join(', ')})`, 2);
      if (f.maxLag !== undefined && f.role !== 'delivery') throw new CommandError('--max-lag is for --role delivery');
      if (f.steps && f.role === 'delivery')
        throw new CommandError('--steps is for a rollout of the cells (--role cell): delivery instances are replaced one at a time');
      const body = {
        version,
        ...(f.role === 'delivery' ? { role: 'delivery' } : {}),
        ...(f.maxLag !== undefined ? { maxLag: f.maxLag } : {}),
        ...(spec.defect ? { defect: spec.defect } : {}),
        ...(f.bake !== undefined ? { bakeMs: f.bake } : {}),
        ...(f.warmup !== undefined ? { warmupMs: f.warmup } : {}),
        ...(f.waves ? { waveSizes: f.waves } : {}),
        ...(f.allowIdle ? { allowIdle: true } : {}),
        ...(f.steps ? { steps: f.steps } : {}),
      };
      if (f.dryRun) {
        const { plan } = await api.post<{ plan: RolloutRecord }>('/rollouts', { ...body, dryRun: true });
        if (f.json) return printJson(plan);
        const of = plan.role === 'delivery' ? ' of the delivery service' : '';
        process.stdout.write(
          `plan (dry run, nothing changed): ${version}${of}${spec.defect ? ` (defect ${JSON.stringify(spec.defect)})` : ''}, bake ${plan.bakeMs} ms per wave${plan.allowIdle ? ' (idle waves accepted)' : ''}${plan.maxLag ? `, lag bound ${plan.maxLag}` : ''}\n`,
        );
        const count = (c: string) =>
          plan.deliveryInstances?.[c]
            ? ` (${plan.deliveryInstances[c]} delivery instances on ${plan.previous[c]?.version}, one at a time)`
            : '';
        plan.waves.forEach((w, i) => process.stdout.write(`  wave ${i}: ${w.cells.map((c) => `${c}${count(c)}`).join(', ')}\n`));
        return;
      }
      const { rollout } = await api.post<{ rollout: RolloutRecord }>('/rollouts', body);
      if (!f.json)
        process.stdout.write(
          `rollout ${rollout.id}: ${version}${rollout.role === 'delivery' ? ' to the delivery service of' : ' to'} ${rollout.waves.map((w) => w.cells.join('+')).join(' → ')}, bake ${rollout.bakeMs} ms\n`,
        );
      if (!f.wait) return f.json ? printJson(rollout) : undefined;
      const end = await watch(api, rollout.id, f.json === true);
      if (f.json) printJson(end);
      else process.stdout.write(`${describeRollout(end)}\n`);
      if (end.state !== 'succeeded') throw new CommandError(`rollout of ${version} ${end.state}${end.report ? `: ${end.report}` : ''}`);
    }),
  );
}

/** Polls a rollout to its end, printing each wave change. */
async function watch(api: ReturnType<typeof connect>, id: string, quiet: boolean): Promise<RolloutRecord> {
  const seen = new Set<string>();
  for (;;) {
    const { rollout: r } = await api.get<{ rollout: RolloutRecord }>(`/rollouts/${id}`);
    r.waves.forEach((w, i) => {
      const line = `  wave ${i} [${w.cells.join(', ')}]: ${w.state}${w.verdict && w.state !== 'baking' ? ` — ${w.verdict.reason}` : ''}`;
      if (!quiet && !seen.has(line)) process.stdout.write(`${line}\n`);
      seen.add(line);
    });
    if (!['running', 'rolling-back'].includes(r.state)) return r;
    await sleep(250);
  }
}
