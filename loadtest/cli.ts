/**
 * `cellctl drill <name>`: runs one blast-radius drill under vegeta load against the local topology (started
 * with `cellctl up` when none is running), prints a one-screen summary, writes
 * reports/<drill>-<timestamp>/ and exits non-zero when a verdict fails.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { neverFromEnv, parseDurationMs, parsePositiveInt } from '../shared/cli.js';
import { createLogger } from '../shared/logger.js';
import { DRILLS, findDrill } from './drills/index.js';
import { assertSabotageApplies } from './drills/sabotage.js';
import type { DrillOptions } from './drills/types.js';
import { openUpEnv } from './env/up-env.js';
import { runDrill } from './engine.js';
import type { Plane } from './plan.js';
import { renderSummary } from './report/summary.js';

interface CliOptions {
  plane?: 'router' | 'envoy' | 'both';
  duration: number;
  rate: number;
  cell?: string;
  json?: boolean;
  data: string;
  reports: string;
  faultEveryCell?: boolean;
  faultNeverStarts?: boolean;
  routerOneCell?: boolean;
  routerIsolationOff?: boolean;
  staleBackup?: boolean;
  faultNeverEnds?: boolean;
  timeout: number;
  catchUp?: number;
  mix?: DrillOptions['mix'];
}

/** Parses `create=35,get=30,list=25,cancel=10` (missing operations get 0). */
export function parseMix(value: string): NonNullable<DrillOptions['mix']> {
  const mix = { create: 0, get: 0, list: 0, cancel: 0 };
  for (const part of value.split(',')) {
    const [k, v] = part.split('=');
    const n = Number(v);
    if (!k || !(k in mix) || !Number.isFinite(n) || n < 0) {
      throw new InvalidArgumentError(`'${part}' is not op=weight (ops: create, get, list, cancel)`);
    }
    mix[k as keyof typeof mix] = n;
  }
  if (mix.create + mix.get + mix.list + mix.cancel <= 0) throw new InvalidArgumentError('the mix needs a positive weight');
  return mix;
}

function planesOf(opt: CliOptions['plane'], fallback: Plane[] | undefined): Plane[] {
  if (opt === 'both') return ['router', 'envoy'];
  if (opt) return [opt];
  return fallback ?? ['router', 'envoy'];
}

/** A sabotage switch: a flag no CELLSIM_* variable can set, so only an explicit flag fails a drill on purpose. */
const sabotage = (flags: string, description: string): Option => neverFromEnv(new Option(flags, description));

/** The `drill` command module. */
export function command(): Command {
  const list = DRILLS.map((d) => `  ${d.name.padEnd(22)}${d.description}`).join('\n');
  const refuse = DRILLS.filter((d) => !d.sabotage?.includes('faultNeverStarts')).map((d) => d.name);
  const neverStarts = refuse.length ? `every drill but ${refuse.join(', ')}` : 'every drill';
  return new Command('drill')
    .description('run a blast-radius drill under vegeta load, write reports/<drill>-<timestamp>/, exit 1 when a verdict fails')
    .argument('<name>', 'the drill (see the list below)', (v: string) => {
      if (!findDrill(v)) throw new InvalidArgumentError(`unknown drill '${v}'; one of: ${DRILLS.map((d) => d.name).join(', ')}`);
      return v;
    })
    .addOption(
      new Option('--plane <plane>', 'data plane(s) to drive (default: both, or the plane a replica drill kills)').choices([
        'router',
        'envoy',
        'both',
      ]),
    )
    .option('--duration <d>', 'whole run: baseline 30%, fault 35%, recovery 35% (soak: all of it)', parseDurationMs, 60_000)
    .option('--rate <n>', 'requests per second (open model, vegeta -rate)', parsePositiveInt, 100)
    .option('--cell <id>', 'the cell to fault (cell drills; default cell-1)')
    .option('--json', 'print the report JSON instead of the summary')
    .option('--data <dir>', 'topology data directory (cellctl up)', './.cellsim')
    .option('--reports <dir>', 'where reports go', './reports')
    .option('--timeout <d>', 'per-request timeout of the load generator', parseDurationMs, 10_000)
    .option(
      '--catch-up <d>',
      'kafka-broker-down, delivery-down: how long after the outage every acknowledged order (and the backlog) must be DELIVERED (default 60s)',
      parseDurationMs,
    )
    .option('--mix <ops>', 'operation mix, e.g. create=35,get=30,list=25,cancel=10', parseMix)
    .addOption(
      sabotage('--fault-every-cell', 'sabotage (cell drills): inject the cell fault into every cell (the spill verdicts must then FAIL)'),
    )
    .addOption(
      sabotage(
        '--fault-never-starts',
        `sabotage (${neverStarts}): go through the steps but inject nothing: no fault, kill, outage, migration or rollout ("fault observed" must then FAIL)`,
      ),
    )
    .addOption(
      sabotage(
        '--router-one-cell',
        'sabotage (cell drills, router plane): drive the router plane through an extra router that sends every market to one healthy cell ("wrong-cell answers (router)" must then FAIL)',
      ),
    )
    .addOption(
      sabotage(
        '--router-isolation-off',
        'sabotage (cell-hang, router plane): drive the router plane through an extra router with hang isolation off ("time to isolate (router)" must then FAIL)',
      ),
    )
    .addOption(
      sabotage(
        '--stale-backup',
        'sabotage (cell-loss): recover from a copy of the backup taken before the load, its record left as the cell wrote it ("orders acknowledged before the recovery point survive" must then FAIL)',
      ),
    )
    .addOption(
      sabotage(
        '--fault-never-ends',
        'sabotage (kafka-broker-down, delivery-down): the killed broker (or delivery service) is not started again until the order check is over ("acknowledged orders DELIVERED after the broker is back", or "... the delivery service is back" and "delivery backlog ... drained", must then FAIL)',
      ),
    )
    .addHelpText(
      'after',
      `\nDrills:\n${list}\n\nExit code 0 when every verdict passed; 1 when one failed, or on bad usage (the message says which).`,
    )
    .action(async (name: string, o: CliOptions) => {
      const log = createLogger('drill');
      const drill = findDrill(name);
      if (!drill) throw new Error(`unknown drill ${name}`);
      const opts: DrillOptions = {
        planes: planesOf(o.plane, drill.defaultPlanes),
        durationMs: o.duration,
        rate: o.rate,
        cell: o.cell,
        faultEveryCell: o.faultEveryCell,
        faultNeverStarts: o.faultNeverStarts,
        routerOneCell: o.routerOneCell,
        routerIsolationOff: o.routerIsolationOff,
        staleBackup: o.staleBackup,
        faultNeverEnds: o.faultNeverEnds,
        requestTimeoutMs: o.timeout,
        catchUpMs: o.catchUp,
        mix: o.mix,
      };
      // Before any topology is touched: a switch that does not apply is an error, not a no-op.
      assertSabotageApplies(drill, opts);
      const env = await openUpEnv({ dataDir: o.data, progress: (l) => log.info(l) });
      try {
        const report = await runDrill(drill, env, opts, {
          reportsDir: o.reports,
          // Progress is for the person watching: plain lines on stderr, with or without --json.
          progress: (l) => process.stderr.write(`${l}\n`),
        });
        process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : `${renderSummary(report)}\n`);
        if (!report.pass) process.exitCode = 1;
      } finally {
        await env.close();
      }
    });
}
