/** The NDJSON line format of market export/import: one zod schema per line type. */
import { z } from 'zod';
import { MARKET_ID_RE } from '../../shared/market.js';
import { ORDER_STATUSES } from '../orders/schemas.js';

const market = z.string().regex(MARKET_ID_RE);
const ms = z.number().int().nonnegative();
const text = (max: number) => z.string().min(1).max(max);

/** The columns of an order row; an order fact (`fact`) may have an empty customer and address. */
const orderColumns = (fact: boolean) => ({
  id: text(100),
  market,
  customer_id: fact ? z.string().max(128) : text(128),
  items: text(65_536),
  address: fact ? z.string().max(500) : text(500),
  total_cents: z.number().int().nonnegative(),
  status: z.enum(ORDER_STATUSES),
  cancel_reason: z.string().max(500).nullable(),
  created_at: ms,
  updated_at: ms,
});

/** Every line type of an all-in-one cell's export, in the order they are written. */
export const ROW_TYPES = ['order', 'history', 'idempotency', 'delivery', 'saga'] as const;

/**
 * The line types each kind of cell process exports and imports (docs/kafka.md §Market migration on Kafka):
 * a split cell's order service its orders, their history and idempotency records; its delivery
 * service the order facts it keeps (`fact`: an order row of its own database, without customer or
 * items), their history, deliveries and sagas. An import refuses a line of another type, so one
 * service's export never lands in the other.
 */
export const ROW_TYPES_OF = {
  all: ROW_TYPES,
  order: ['order', 'history', 'idempotency'],
  delivery: ['fact', 'history', 'delivery', 'saga'],
} as const satisfies Record<'all' | 'order' | 'delivery', readonly DataLine['type'][]>;

/** One line of an export stream. */
export const LineSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('header'), market, cursor: ms, since: ms.optional() }).strict(),
  z.object({ type: z.literal('end'), cursor: ms, rows: ms }).strict(),
  z.object({ type: z.literal('order'), ...orderColumns(false) }).strict(),
  // A delivery service's copy of an order (cells/saga/mirror.ts): no customer, no items, total 0.
  z.object({ type: z.literal('fact'), ...orderColumns(true) }).strict(),
  z
    .object({
      type: z.literal('history'),
      order_id: text(100),
      n: z.number().int().positive(),
      market,
      status: z.enum(ORDER_STATUSES),
      reason: z.string().max(500).nullable(),
      at: ms,
    })
    .strict(),
  z.object({ type: z.literal('idempotency'), market, key: text(200), body_hash: text(128), order_id: text(100), created_at: ms }).strict(),
  z
    .object({
      type: z.literal('delivery'),
      order_id: text(100),
      market,
      status: z.enum(['REQUESTED', 'ASSIGNED', 'PICKED_UP', 'DELIVERED', 'FAILED', 'CANCELLED']),
      courier: z.string().max(100).nullable(),
      reason: z.string().max(500).nullable(),
      created_at: ms,
      updated_at: ms,
    })
    .strict(),
  z
    .object({
      type: z.literal('saga'),
      order_id: text(100),
      market,
      state: z.enum(['ASSIGNING', 'CONFIRMED', 'DELIVERING', 'DONE', 'COMPENSATED', 'CANCELLED']),
      active: z.number().int().min(0).max(1),
      attempts: z.number().int().nonnegative(),
      last_error: z.string().max(2000).nullable(),
      next_at: ms,
      deadline_at: ms,
      created_at: ms,
      updated_at: ms,
    })
    .strict(),
]);
/** Any line of an export. */
export type Line = z.infer<typeof LineSchema>;
/** A line that carries a row (not header or end). */
export type DataLine = Exclude<Line, { type: 'header' } | { type: 'end' }>;

/** Table and key columns of each row type. */
export const TABLES: Record<DataLine['type'], { table: string; keys: string[] }> = {
  order: { table: 'orders', keys: ['id'] },
  fact: { table: 'orders', keys: ['id'] },
  history: { table: 'order_history', keys: ['order_id', 'n'] },
  idempotency: { table: 'idempotency', keys: ['market', 'key'] },
  delivery: { table: 'deliveries', keys: ['order_id'] },
  saga: { table: 'sagas', keys: ['order_id'] },
};
