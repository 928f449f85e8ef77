/** Consumer benchmark: one partition, many keys, simulated I/O per event, at several worker counts. */
import { KeyOrderedConsumer } from '../consumer/consumer.js';
import { openDb } from '../db/open.js';
import { SqliteLog } from '../log/sqlite-log.js';
import { tempDir } from '../testing.js';

/** One measured run. */
export interface ConsumerRun {
  workers: number;
  events: number;
  seconds: number;
  perSecond: number;
  violations: number;
  peakConcurrency: number;
}

/**
 * Appends `events` records over `keys` keys to a one-partition SQLite log, consumes them with
 * `workers` workers and a handler that sleeps `ioMs`, and counts per-key order violations (a
 * record seen before an earlier record of its key, or two records of one key at once).
 */
export async function benchConsumer(workers: number, opts: { events: number; keys: number; ioMs: number }): Promise<ConsumerRun> {
  const tmp = tempDir('cellsim-bench-');
  const db = openDb(tmp.dir);
  try {
    const log = new SqliteLog(db, 1);
    const perKey = new Map<string, number>();
    await log.append(
      Array.from({ length: opts.events }, (_, i) => {
        const key = `order-${i % opts.keys}`;
        const n = perKey.get(key) ?? 0;
        perKey.set(key, n + 1);
        return { key, market: 'bench', eventId: `e${i}`, type: 'bench', payload: String(n), createdAt: i };
      }),
    );
    const last = new Map<string, number>();
    const running = new Set<string>();
    let violations = 0;
    let done = 0;
    let peak = 0;
    let active = 0;
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((r) => (finish = r));
    const consumer = new KeyOrderedConsumer({
      log,
      group: 'bench',
      workers,
      pollMs: 1,
      maxInFlight: 2000,
      handler: async (r) => {
        if (running.has(r.key)) violations++;
        running.add(r.key);
        active++;
        peak = Math.max(peak, active);
        const n = Number(r.payload);
        if ((last.get(r.key) ?? -1) !== n - 1) violations++;
        last.set(r.key, n);
        await new Promise((res) => setTimeout(res, opts.ioMs));
        active--;
        running.delete(r.key);
        if (++done === opts.events) finish();
      },
    });
    const t0 = performance.now();
    consumer.start();
    await finished;
    const seconds = (performance.now() - t0) / 1000;
    await consumer.stop();
    return { workers, events: opts.events, seconds, perSecond: opts.events / seconds, violations, peakConcurrency: peak };
  } finally {
    db.close();
    tmp.cleanup();
  }
}
