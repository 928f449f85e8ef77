/**
 * The reconciliation alert of `cellctl status` and the console (docs/cells.md §Reconciliation):
 * each cell whose last reconciliation run found mismatches, read from
 * `cellsim_reconcile_last_found` of its passing instances' `/metrics` (the process holding the
 * background lease runs it; the largest value of a cell's instances counts). An all-in-one cell and
 * a split cell's order service alike.
 */
import { parsePrometheus } from '../rollout/prom.js';
import type { CellView } from './views.js';

/** A cell whose last reconciliation found `found` mismatches (and repaired what it could). */
export interface ReconcileAlert {
  cell: string;
  found: number;
}

/** The last run's total found in one instance's metrics text (0 without the gauge). */
export function lastFound(text: string): number {
  let n = 0;
  for (const s of parsePrometheus(text)) if (s.name === 'cellsim_reconcile_last_found') n = Math.max(n, s.value);
  return n;
}

/** Scrapes every passing instance of `cells` (in parallel; an instance that does not answer counts 0). */
export async function reconcileAlerts(
  cells: readonly CellView[],
  fetchText: (url: string) => Promise<string>,
  scheme: 'http' | 'https',
): Promise<ReconcileAlert[]> {
  const found = await Promise.all(
    cells.map(async (c) => {
      const passing = c.instances.filter((i) => i.status === 'passing');
      const each = await Promise.all(passing.map((i) => fetchText(`${scheme}://${i.address}:${i.port}/metrics`).then(lastFound, () => 0)));
      return { cell: c.id, found: Math.max(0, ...each) };
    }),
  );
  return found.filter((a) => a.found > 0);
}

/** The status line, or null when no cell's last run found anything. */
export function alertsLine(alerts: readonly ReconcileAlert[]): string | null {
  if (!alerts.length) return null;
  const one = (a: ReconcileAlert) => `${a.cell} found ${a.found} mismatch${a.found === 1 ? '' : 'es'} between orders and deliveries`;
  return `reconciliation alert: ${alerts.map(one).join(', ')} (last run; repaired what it could: see the cell's log)`;
}
