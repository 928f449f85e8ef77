/** Following a migration to its end with live progress, and the one-line result (migrate, assign). */
import { MIGRATION_STATES, type MigrationRecord } from '../../shared/kv.js';
import { CommandError, Progress, sleep, type Api } from './common.js';

/** The states of a migration that moves forward, in order (the progress bar's steps): every state but the undo's and failure's. */
const STEPS: readonly string[] = MIGRATION_STATES.filter((s) => s !== 'rolling-back' && s !== 'rolled-back' && s !== 'failed');

type Summary = NonNullable<MigrationRecord['summary']>;
const checksum = (s: Summary) => `checksum ${s.checksum.slice(0, 12)} equal on both sides`;

/**
 * The rows a migration moved: its cell's, and between split cells the delivery service's too, with
 * each service's share and verified summary (docs/kafka.md §Market migration on Kafka).
 */
export function describeRows(m: MigrationRecord): string {
  const d = m.delivery;
  if (!d)
    return `${m.rows.snapshot} snapshot + ${m.rows.delta} delta rows${m.summary ? `, ${m.summary.orders} orders, ${checksum(m.summary)}` : ''}`;
  const order = `order service ${m.rows.snapshot} + ${m.rows.delta}${m.summary ? `, ${m.summary.orders} orders, ${checksum(m.summary)}` : ''}`;
  const delivery =
    `delivery service ${d.rows.snapshot} + ${d.rows.delta}` +
    (d.summary ? `, ${d.summary.orders} order facts and ${d.summary.deliveries} deliveries, ${checksum(d.summary)}` : '');
  return `${m.rows.snapshot + d.rows.snapshot} snapshot + ${m.rows.delta + d.rows.delta} delta rows (${order}; ${delivery})`;
}

/** One line saying how a migration ended. */
export function describeMigration(m: MigrationRecord): string {
  if (m.state === 'rolled-back' || m.state === 'failed') {
    return `migration of ${m.market} ${m.state}: ${m.error ?? 'no reason recorded'}; ${m.market} stays on ${m.from}`;
  }
  if (m.state !== 'done' && m.state !== 'cleanup-wait' && m.state !== 'flipped') {
    // Under way: its last note, e.g. a wait for an unreachable plane (docs/operators.md §Waiting for the data planes).
    const note = m.history.at(-1)?.note;
    return `migrating ${m.market} ${m.from} → ${m.to}${note ? `: ${note}` : ''}`;
  }
  const when = m.state === 'done' ? `${m.from} purged` : `${m.from} purged at ${m.cleanupAt ?? '?'}`;
  const share = m.share ? ` by share of ${m.share.header} in steps of ${m.share.steps.join(', ')} %` : '';
  return `moved ${m.market} ${m.from} → ${m.to}${share} (epoch ${m.epoch + 1}) in ${m.moveMs ?? '?'} ms; freeze window ${m.freezeMs ?? '?'} ms; ${describeRows(m)}; ${when}`;
}

/** Polls the migration of `market` until it has moved (or ended); throws when it rolled back. */
export async function follow(api: Api, market: string, quiet: boolean, untilDone = false): Promise<MigrationRecord> {
  const progress = new Progress(STEPS.length - 1, quiet);
  let shown = 0;
  try {
    for (;;) {
      const { migration: m } = await api.get<{ migration: MigrationRecord }>(`/migrations/${market}`);
      for (const h of m.history.slice(shown)) progress.update(STEPS.indexOf(h.state) + 1, h.note ? `${h.state}: ${h.note}` : h.state);
      shown = m.history.length;
      if (m.state === 'done' || m.state === 'rolled-back' || m.state === 'failed' || (!untilDone && m.state === 'cleanup-wait')) return m;
      await sleep(100);
    }
  } finally {
    progress.stop();
  }
}

/** Throws a CommandError when the migration did not move the market. */
export function requireMoved(m: MigrationRecord): void {
  if (m.state === 'rolled-back' || m.state === 'failed') throw new CommandError(describeMigration(m));
}
