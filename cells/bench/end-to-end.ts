/**
 * End-to-end benchmark: one real cell process on either event log (SQLite, or Kafka with a real
 * broker of its own, infra/harness/kafka.ts), orders posted for a fixed time, accept→CONFIRMED
 * from its database.
 */
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { Agent, fetch as undiciFetch } from 'undici';
import { startKafka, type KafkaBroker } from '../../infra/harness/kafka.js';
import { ProcessScope } from '../../infra/process.js';
import { dbFile } from '../db/open.js';
import { orderBody, startCellProcess, tempDir } from '../testing.js';

/** What one end-to-end run measured. */
export interface EndToEndRun {
  log: EventLogBackend;
  concurrency: number;
  seconds: number;
  accepted: number;
  acceptedPerSecond: number;
  errors: number;
  postP50: number;
  postP99: number;
  confirmed: number;
  confirmP50: number;
  confirmP99: number;
  rssMiB: number;
}

/** The cell's event log backend (`cellctl cell --log`). */
export type EventLogBackend = 'sqlite' | 'kafka';

/** The value at quantile q of sorted numbers. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Resident memory of the node process under the harness watchdog, in MiB. */
function rssMiB(watchdogPid: number): number {
  const pids = [watchdogPid, ...childPids(watchdogPid)];
  let best = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) best = Math.max(best, Number(m[1]) / 1024);
    } catch {
      /* gone */
    }
  }
  return best;
}

/** Posts orders with `concurrency` clients for `seconds`, then waits for confirmations and reads latencies from the database. */
export async function benchEndToEnd(opts: { concurrency: number; seconds: number; log: EventLogBackend }): Promise<EndToEndRun> {
  const tmp = tempDir('cellsim-bench-');
  const scope = new ProcessScope();
  const dispatcher = new Agent({ connections: opts.concurrency, keepAliveTimeout: 10_000 });
  let broker: KafkaBroker | undefined;
  try {
    if (opts.log === 'kafka') broker = await startKafka({ name: 'bench-kafka' });
    const args = broker ? ['--log', 'kafka', '--kafka', broker.bootstrap] : [];
    const cell = await startCellProcess(scope, { id: 'cell-bench', dataDir: tmp.dir, name: 'bench-cell', args });
    const lat: number[] = [];
    let errors = 0;
    const deadline = performance.now() + opts.seconds * 1000;
    const worker = async (w: number) => {
      for (let i = 0; performance.now() < deadline; i++) {
        const t0 = performance.now();
        try {
          const res = await undiciFetch(`${cell.url}/v1/orders`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-market-id': `m${w % 4}`, 'idempotency-key': `b${w}-${i}` },
            body: JSON.stringify(orderBody({ customerId: `c${w}` })),
            dispatcher,
          });
          await res.arrayBuffer();
          if (res.status === 201) lat.push(performance.now() - t0);
          else errors++;
        } catch {
          errors++;
        }
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: opts.concurrency }, (_, w) => worker(w)));
    const seconds = (performance.now() - t0) / 1000;
    const rss = rssMiB(cell.proc.pid);
    // Let every accepted order reach CONFIRMED (or time out), then read the timings.
    const db = new Database(dbFile(tmp.dir), { readonly: true });
    try {
      const waitUntil = Date.now() + 30_000;
      while (Date.now() < waitUntil) {
        const { n } = db.prepare("SELECT COUNT(*) AS n FROM orders WHERE status = 'PENDING'").get() as { n: number };
        if (n === 0) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const rows = db
        .prepare(
          `SELECT c.at - p.at AS ms FROM order_history p JOIN order_history c ON c.order_id = p.order_id
           WHERE p.status = 'PENDING' AND c.status = 'CONFIRMED' ORDER BY ms`,
        )
        .all() as { ms: number }[];
      const confirm = rows.map((r) => r.ms);
      lat.sort((a, b) => a - b);
      return {
        log: opts.log,
        concurrency: opts.concurrency,
        seconds,
        accepted: lat.length,
        acceptedPerSecond: lat.length / seconds,
        errors,
        postP50: quantile(lat, 0.5),
        postP99: quantile(lat, 0.99),
        confirmed: confirm.length,
        confirmP50: quantile(confirm, 0.5),
        confirmP99: quantile(confirm, 0.99),
        rssMiB: rss,
      };
    } finally {
      db.close();
    }
  } finally {
    await dispatcher.close();
    await scope.close();
    await broker?.stop();
    tmp.cleanup();
  }
}
