/** `cellctl status`'s reconciliation alert (control-plane/admin/reconcile-alerts.ts): the gauge read from each passing instance, the line. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CellView, InstanceView } from './views.js';
import { alertsLine, lastFound, reconcileAlerts } from './reconcile-alerts.js';

const gauge = (n: number) =>
  `# HELP cellsim_reconcile_last_found mismatches the last reconciliation run found\n# TYPE cellsim_reconcile_last_found gauge\ncellsim_reconcile_last_found{cell="c"} ${n}\n`;

const inst = (port: number, status: InstanceView['status'] = 'passing'): InstanceView => ({
  id: `i${port}`,
  address: '127.0.0.1',
  port,
  status,
  meta: {},
});
const cell = (id: string, instances: InstanceView[]) => ({ id, instances }) as unknown as CellView;

describe('reconciliation alerts in cellctl status', () => {
  it('reads the last run total from a metrics text (0 without the gauge)', () => {
    assert.equal(lastFound(gauge(3)), 3);
    assert.equal(lastFound('cellsim_http_requests_total 5\n'), 0);
  });

  it('lists the cells whose passing instances report mismatches, the largest value per cell', async () => {
    const texts: Record<string, string> = {
      'http://127.0.0.1:1/metrics': gauge(0),
      'http://127.0.0.1:2/metrics': gauge(2),
      'http://127.0.0.1:3/metrics': gauge(0),
      'http://127.0.0.1:5/metrics': gauge(9),
    };
    const asked: string[] = [];
    const get = async (url: string) => {
      asked.push(url);
      if (!(url in texts)) throw new Error('refused');
      return texts[url]!;
    };
    const cells = [cell('cell-0', [inst(1), inst(2)]), cell('cell-1', [inst(3), inst(4)]), cell('cell-2', [inst(5, 'critical')])];
    const alerts = await reconcileAlerts(cells, get, 'http');
    assert.deepEqual(alerts, [{ cell: 'cell-0', found: 2 }]);
    assert.ok(!asked.includes('http://127.0.0.1:5/metrics'), 'a critical instance is not scraped');
    assert.equal(
      alertsLine(alerts),
      "reconciliation alert: cell-0 found 2 mismatches between orders and deliveries (last run; repaired what it could: see the cell's log)",
    );
    assert.equal(alertsLine([]), null);
  });
});
