/**
 * `npm run bench:cell`: the key-ordered consumer at 1, 4 and 16 workers (one partition, 1,000
 * keys, 5 ms simulated I/O per event), then a real cell process end to end at light and heavy
 * load on each event log backend (SQLite; Kafka with a real broker). Prints tables and writes
 * them to bench/cell.md (infra/harness/bench-results.ts) with the date, command and load average.
 */
import Table from 'cli-table3';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { benchCommand, loadAverage, writeResults } from '../../infra/harness/bench-results.js';
import { benchConsumer, type ConsumerRun } from './consumer.js';
import { benchEndToEnd, type EventLogBackend } from './end-to-end.js';

const OUT = fileURLToPath(new URL('../../bench/cell.md', import.meta.url));

const EVENTS = Number(process.env.CELLSIM_BENCH_EVENTS ?? 2000);
const E2E_SECONDS = Number(process.env.CELLSIM_BENCH_SECONDS ?? 8);
const E2E_CONCURRENCY = (process.env.CELLSIM_BENCH_CONCURRENCY ?? '4,32').split(',').map(Number);
const E2E_LOGS = (process.env.CELLSIM_BENCH_LOGS ?? 'sqlite,kafka').split(',');
const isBackend = (l: string): l is EventLogBackend => l === 'sqlite' || l === 'kafka';

async function main(): Promise<void> {
  const logs = E2E_LOGS.map((l) => {
    if (!isBackend(l)) throw new Error(`CELLSIM_BENCH_LOGS: unknown log backend ${l} (sqlite, kafka)`);
    return l;
  });
  process.env.CELLSIM_LOG_LEVEL ??= 'warn';
  const loadBefore = loadAverage();
  const started = new Date();
  process.stdout.write(`cellsim cell benchmark — node ${process.version}, ${cpus().length} cores, ${started.toISOString()}\n\n`);
  const runs: ConsumerRun[] = [];
  for (const workers of [1, 4, 16]) runs.push(await benchConsumer(workers, { events: EVENTS, keys: 1000, ioMs: 5 }));
  const base = runs[0]!.perSecond;
  const head1 = ['consumer workers', 'events', 'seconds', 'events/s', 'speed-up vs 1', 'peak concurrent', 'per-key order violations'];
  const rows1: (string | number)[][] = [];
  for (const r of runs) {
    rows1.push([
      r.workers,
      r.events,
      r.seconds.toFixed(2),
      r.perSecond.toFixed(0),
      `${(r.perSecond / base).toFixed(1)}×`,
      r.peakConcurrency,
      r.violations,
    ]);
  }
  const title1 = 'Key-ordered consumer: 1 partition, 1,000 keys, 5 ms simulated I/O per event';
  const t1 = new Table({ head: head1 });
  t1.push(...rows1);
  process.stdout.write(`${title1}\n${t1.toString()}\n`);
  const ratio = runs[2]!.perSecond / base;
  const target = `target 16 workers ≥ 8× 1 worker: ${ratio >= 8 ? 'met' : 'NOT met'} (${ratio.toFixed(1)}×)`;
  process.stdout.write(`${target}\n\n`);

  const head2 = [
    'log',
    'clients',
    'seconds',
    'orders accepted',
    'accepted/s',
    'errors',
    'POST p50 ms',
    'POST p99 ms',
    'accept→CONFIRMED p50 ms',
    'p99 ms',
    'cell RSS MiB',
  ];
  const rows2: (string | number)[][] = [];
  const warnings: string[] = [];
  // Side by side: each load on each backend (a Kafka row starts a broker of its own, then stops it).
  for (const concurrency of E2E_CONCURRENCY) {
    for (const log of logs) {
      const e = await benchEndToEnd({ concurrency, seconds: E2E_SECONDS, log });
      if (e.confirmed < e.accepted)
        warnings.push(`${log}, ${concurrency} clients: only ${e.confirmed} of ${e.accepted} orders reached CONFIRMED within 30 s`);
      rows2.push([
        e.log,
        e.concurrency,
        e.seconds.toFixed(1),
        e.accepted,
        e.acceptedPerSecond.toFixed(0),
        e.errors,
        e.postP50.toFixed(1),
        e.postP99.toFixed(1),
        e.confirmP50.toFixed(0),
        e.confirmP99.toFixed(0),
        e.rssMiB.toFixed(0),
      ]);
    }
  }
  const title2 =
    'End to end: one cell process per row on the SQLite log or on Kafka (one local broker per row, KRaft, 512 MiB heap), defaults 8 partitions, 16 workers, 20 ms courier assignment; clients in the bench process';
  const t2 = new Table({ head: head2 });
  t2.push(...rows2);
  process.stdout.write(`${title2}\n${t2.toString()}\n`);
  for (const w of warnings) process.stdout.write(`warning: ${w}\n`);

  writeResults(
    OUT,
    {
      title: 'Cell benchmark',
      command: benchCommand('bench:cell'),
      loadBefore,
      settings:
        `consumer: ${EVENTS} events per run, appended and consumed in process; end to end: ${E2E_CONCURRENCY.join(', ')} closed-loop clients ` +
        `(undici, as many keep-alive connections as clients, each client posting /v1/orders back to back) in the bench process, ${E2E_SECONDS} s per row, ` +
        `log backends ${E2E_LOGS.join(', ')}`,
    },
    [
      { title: title1, head: head1, rows: rows1, notes: [`${target}.`] },
      { title: title2, head: head2, rows: rows2, notes: warnings.map((w) => `Warning: ${w}.`) },
    ],
  );
  process.stdout.write(`written to ${OUT}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:cell failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
