import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpError } from '../../shared/errors.js';
import { parseExport } from './import.js';
import { ROW_TYPES_OF } from './rows.js';

const order = {
  id: 'o1',
  market: 'mk',
  customer_id: 'c1',
  items: '[]',
  address: '1 Main St',
  total_cents: 100,
  status: 'CONFIRMED',
  cancel_reason: null,
  created_at: 1,
  updated_at: 2,
};
const fact = { ...order, type: 'fact', customer_id: '', address: '', total_cents: 0 };
const delivery = {
  type: 'delivery',
  order_id: 'o1',
  market: 'mk',
  status: 'ASSIGNED',
  courier: 'c-1',
  reason: null,
  created_at: 1,
  updated_at: 2,
};
const stream = (...rows: object[]) =>
  [{ type: 'header', market: 'mk', cursor: 5 }, ...rows, { type: 'end', cursor: 5, rows: rows.length }]
    .map((l) => JSON.stringify(l))
    .join('\n');

describe('an import takes the line types of its kind of process', () => {
  it("takes a delivery service's order facts (no customer, no address) and deliveries", async () => {
    const parsed = await parseExport(stream(fact, delivery), 'mk', ROW_TYPES_OF.delivery);
    assert.deepEqual(
      parsed.rows.map((r) => r.type),
      ['fact', 'delivery'],
    );
  });

  it("refuses a line of another service's type with 400 invalid_request, naming it", async () => {
    const refused = (types: readonly string[], line: string) => (e: unknown) =>
      e instanceof HttpError &&
      e.code === 'invalid_request' &&
      e.message.includes(`is a ${line} row`) &&
      e.message.includes(types.join(', '));
    await assert.rejects(parseExport(stream(fact), 'mk', ROW_TYPES_OF.order), refused(ROW_TYPES_OF.order, 'fact'));
    await assert.rejects(parseExport(stream(delivery), 'mk', ROW_TYPES_OF.order), refused(ROW_TYPES_OF.order, 'delivery'));
    await assert.rejects(
      parseExport(stream({ ...order, type: 'order' }), 'mk', ROW_TYPES_OF.delivery),
      refused(ROW_TYPES_OF.delivery, 'order'),
    );
  });

  it('still refuses an order without a customer: only a fact may have none', async () => {
    await assert.rejects(parseExport(stream({ ...order, type: 'order', customer_id: '' }), 'mk'), /not a valid export line/);
  });
});
