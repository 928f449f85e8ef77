/**
 * The delivery service's side of a split cell's reconciliation
 * (docs/kafka.md §Reconciliation of a split cell): `POST /admin/reconcile/deliveries`
 * `{"orderIds":[...]}` answers what its database holds for those orders (delivery and saga), read
 * in one transaction; orders it has no delivery for are left out. A read: it changes nothing.
 */
import type Database from 'better-sqlite3';
import { Hono } from 'hono';
import { z } from 'zod';
import { stmt } from '../db/stmt.js';
import type { DeliveryStatus } from '../delivery/repo.js';
import { readJson } from '../http/body.js';
import { OrderIdSchema } from '../orders/schemas.js';
import type { DeliverySide } from './split-compare.js';

/** Order ids one request may ask about. */
export const MAX_READ_IDS = 500;

/** The request body. */
export const DeliveryReadSchema = z.object({ orderIds: z.array(OrderIdSchema).min(1).max(MAX_READ_IDS) }).strict();

/** The answer. */
export interface DeliveryReadAnswer {
  deliveries: DeliverySide[];
}

/** What the delivery database holds for `ids`. */
export function readDeliveries(db: Database.Database, ids: readonly string[]): DeliverySide[] {
  return db.transaction(() => {
    const q = stmt(
      db,
      `SELECT d.order_id, d.status, d.reason, d.courier, d.updated_at, s.state AS saga_state, s.active AS saga_active
       FROM deliveries d LEFT JOIN sagas s ON s.order_id = d.order_id WHERE d.order_id = ?`,
    );
    const out: DeliverySide[] = [];
    for (const id of ids) {
      const r = q.get(id) as
        | {
            order_id: string;
            status: DeliveryStatus;
            reason: string | null;
            courier: string | null;
            updated_at: number;
            saga_state: string | null;
            saga_active: number | null;
          }
        | undefined;
      if (r === undefined) continue;
      out.push({
        orderId: r.order_id,
        status: r.status,
        reason: r.reason,
        courier: r.courier,
        updatedAt: r.updated_at,
        saga: r.saga_state === null ? null : { state: r.saga_state, active: r.saga_active === 1 },
      });
    }
    return out;
  })();
}

/** The route (mounted under `/admin/reconcile` of a delivery service, behind the admin token). */
export function deliveryReadRoutes(db: Database.Database): Hono {
  const app = new Hono();
  app.post('/deliveries', async (c) => {
    const body = await readJson(c, DeliveryReadSchema);
    const answer: DeliveryReadAnswer = { deliveries: readDeliveries(db, [...new Set(body.orderIds)]) };
    return c.json(answer);
  });
  return app;
}
