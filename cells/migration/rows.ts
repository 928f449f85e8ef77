/** The NDJSON line format of market export/import: one zod schema per line type. */
import { z } from 'zod';
import { MARKET_ID_RE } from '../../shared/market.js';
import { ORDER_STATUSES } from '../orders/schemas.js';

const market = z.string().regex(MARKET_ID_RE);
const ms = z.number().int().nonnegative();
const text = (max: number) => z.string().min(1).max(max);

/** Every line type of an export, in the order they are written. */
export const ROW_TYPES = ['order', 'history', 'idempotency', 'delivery', 'saga'] as const;

/** One line of an export stream. */
export const LineSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('header'), market, cursor: ms, since: ms.optional() }).strict(),
  z.object({ type: z.literal('end'), cursor: ms, rows: ms }).strict(),
  z
    .object({
      type: z.literal('order'),
      id: text(100),
      market,
      customer_id: text(128),
      items: text(65_536),
      address: text(500),
      total_cents: z.number().int().nonnegative(),
      status: z.enum(ORDER_STATUSES),
      cancel_reason: z.string().max(500).nullable(),
      created_at: ms,
      updated_at: ms,
    })
    .strict(),
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
  history: { table: 'order_history', keys: ['order_id', 'n'] },
  idempotency: { table: 'idempotency', keys: ['market', 'key'] },
  delivery: { table: 'deliveries', keys: ['order_id'] },
  saga: { table: 'sagas', keys: ['order_id'] },
};
