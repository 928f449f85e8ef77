/** Validation of every order API input (zod), and the order statuses. */
import { z } from 'zod';
import { MARKET_ID_RE } from '../../shared/market.js';

/** Most items one order may carry. */
export const MAX_ITEMS = 50;

/** Every order status; PENDING → CONFIRMED → DELIVERING → DELIVERED, or CANCELLED. */
export const ORDER_STATUSES = ['PENDING', 'CONFIRMED', 'DELIVERING', 'DELIVERED', 'CANCELLED'] as const;
/** An order status. */
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** One order line. */
export const ItemSchema = z
  .object({
    sku: z.string().min(1).max(64),
    qty: z.number().int().positive().max(10_000),
    priceCents: z.number().int().nonnegative().max(100_000_000),
  })
  .strict();
/** A validated order line. */
export type Item = z.infer<typeof ItemSchema>;

/** `POST /v1/orders` body. */
export const CreateOrderSchema = z
  .object({
    customerId: z.string().min(1).max(128),
    items: z.array(ItemSchema).min(1).max(MAX_ITEMS, `at most ${MAX_ITEMS} items`),
    address: z.string().min(1).max(500),
  })
  .strict();
/** A validated `POST /v1/orders` body. */
export type CreateOrder = z.infer<typeof CreateOrderSchema>;

/** `POST /v1/orders/:id/cancel` body (optional). */
export const CancelSchema = z.object({ reason: z.string().min(1).max(200).optional() }).strict();

/** `GET /v1/orders` query. */
export const ListQuerySchema = z
  .object({
    market: z.string().regex(MARKET_ID_RE, 'invalid market id').optional(),
    status: z.enum(ORDER_STATUSES).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().max(400).optional(),
  })
  .strict();

/** The `Idempotency-Key` header: 1–200 visible ASCII characters. */
export const IdempotencyKeySchema = z.string().regex(/^[\x21-\x7e]{1,200}$/, 'Idempotency-Key must be 1-200 visible ASCII characters');

/** Order IDs this cell creates (`ord_` + UUID); anything else is unknown. */
export const OrderIdSchema = z.string().regex(/^ord_[0-9a-f-]{36}$/);
