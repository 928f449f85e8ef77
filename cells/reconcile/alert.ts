/**
 * The reconciliation alert, one for an all-in-one cell and a split cell's order service alike
 * (docs/cells.md §Reconciliation): `cellsim_reconcile_mismatches_total{kind}` counts what a run
 * found, `cellsim_reconcile_last_found` holds the run's total until a run finds nothing, and a
 * run that found anything logs a `warn` line with its report.
 */
import type { Logger } from '../../shared/logger.js';
import type { CellMetrics } from '../metrics.js';
import type { ReconcileReport } from './reconcile.js';

/** Sets the metrics from `report` and logs the warn line when it found anything; returns the total found. */
export function raiseAlert(report: ReconcileReport, metrics: CellMetrics, logger: Logger): number {
  const found = Object.values(report.found).reduce((a, b) => a + b, 0);
  metrics.reconcileLastFound.set(found);
  for (const [kind, n] of Object.entries(report.found)) if (n > 0) metrics.reconcileFound.inc({ kind }, n);
  if (found > 0) logger.warn(report, 'reconciliation alert: repaired mismatches between orders and deliveries');
  return found;
}
