/**
 * A synthetic market export for benchmarks: `n` delivered orders in the cells' NDJSON export
 * format (header, order, history, idempotency, delivery, saga rows, end), ready for a cell's
 * `POST /admin/markets/:market/import`.
 */
import { randomUUID } from 'node:crypto';

/** NDJSON of `n` delivered orders of `market`, in the cells' export format. */
export function syntheticExport(market: string, n: number): string {
  const now = Date.now();
  const lines: string[] = [JSON.stringify({ type: 'header', market, cursor: 0 })];
  for (let i = 0; i < n; i++) {
    const id = `ord_${randomUUID()}`;
    const at = now - (n - i) * 10;
    const items = JSON.stringify([{ sku: 'burrito', qty: 1, priceCents: 1299 }]);
    lines.push(
      JSON.stringify({
        type: 'order',
        id,
        market,
        customer_id: `c-${i}`,
        items,
        address: '1 Market St',
        total_cents: 1299,
        status: 'DELIVERED',
        cancel_reason: null,
        created_at: at,
        updated_at: at,
      }),
      JSON.stringify({ type: 'history', order_id: id, n: 1, market, status: 'PENDING', reason: null, at }),
      JSON.stringify({ type: 'history', order_id: id, n: 2, market, status: 'DELIVERED', reason: null, at }),
      JSON.stringify({ type: 'idempotency', market, key: `bulk-${i}`, body_hash: 'x'.repeat(64), order_id: id, created_at: at }),
      JSON.stringify({
        type: 'delivery',
        order_id: id,
        market,
        status: 'DELIVERED',
        courier: 'courier-1',
        reason: null,
        created_at: at,
        updated_at: at,
      }),
      JSON.stringify({
        type: 'saga',
        order_id: id,
        market,
        state: 'DONE',
        active: 0,
        attempts: 1,
        last_error: null,
        next_at: at,
        deadline_at: at,
        created_at: at,
        updated_at: at,
      }),
    );
  }
  lines.push(JSON.stringify({ type: 'end', cursor: 0, rows: lines.length - 1 }));
  return `${lines.join('\n')}\n`;
}
