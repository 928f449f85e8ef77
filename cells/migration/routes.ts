/** `/admin/markets/:m/...`: export, changes, import, freeze, summary, purge, bucket ranges (buckets.ts) and the share peer (share-peer.ts). */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { HttpError } from '../../shared/errors.js';
import { isMarketId } from '../../shared/market.js';
import { invalid, readJson, readLimited } from '../http/body.js';
import type { EventLog } from '../log/types.js';
import type Database from 'better-sqlite3';
import {
  BucketQuerySchema,
  BucketRangeSchema,
  bucketSummary,
  frozenBuckets,
  rangeOf,
  setBucketsFrozen,
  type BucketRange,
} from './buckets.js';
import { exportStream } from './export.js';
import type { DataLine } from './rows.js';
import { importRows, parseExport } from './import.js';
import { marketSummary, purgeMarket, setFrozen } from './summary.js';
import { SharePeerSchema, getSharePeer, setSharePeer } from './share-peer.js';

/** What the migration routes need. */
export interface MigrationDeps {
  db: Database.Database;
  dataDir: string;
  /** The log this process publishes to, and the group that consumes it (the summary's `pending.log`). */
  log: EventLog;
  group: string;
  importHoldMs: number;
  /** The line types this process exports and imports (rows.ts `ROW_TYPES_OF`). */
  types: readonly DataLine['type'][];
}

/** Largest import body accepted (256 MiB). */
export const IMPORT_LIMIT_BYTES = 256 * 1024 * 1024;

const SinceSchema = z.object({ since: z.coerce.number().int().nonnegative() }).passthrough();

/** The bucket range of the query (docs/weighted-shifts.md §Market moves by share), or undefined; 400 when malformed. */
function bucketQuery(c: Context, types: readonly DataLine['type'][]): BucketRange | undefined {
  const q = BucketQuerySchema.safeParse(c.req.query());
  if (!q.success) invalid(q.error.issues, 'query');
  const r = rangeOf(q.data);
  if (r !== undefined && types.includes('fact')) {
    throw new HttpError('invalid_request', "this process's order facts carry no customer: export by bucket range from the order service");
  }
  return r;
}

function market(c: Context): string {
  const m = c.req.param('m');
  if (!isMarketId(m)) throw new HttpError('invalid_market', `market id must match ^[a-z0-9][a-z0-9-]{0,62}$`);
  return m;
}

function ndjson(body: ReadableStream<Uint8Array>): Response {
  return new Response(body, { status: 200, headers: { 'content-type': 'application/x-ndjson' } });
}

/** The market admin routes. */
export function migrationRoutes(d: MigrationDeps): Hono {
  const app = new Hono();
  app.get('/:m/export', (c) => {
    const m = market(c);
    return ndjson(exportStream(d.dataDir, m, undefined, d.types, bucketQuery(c, d.types)));
  });
  app.get('/:m/changes', (c) => {
    const m = market(c);
    const q = SinceSchema.safeParse(c.req.query());
    if (!q.success) invalid(q.error.issues, 'query');
    return ndjson(exportStream(d.dataDir, m, q.data.since, d.types, bucketQuery(c, d.types)));
  });
  app.post('/:m/import', async (c) => {
    const m = market(c);
    const text = Buffer.from(await readLimited(c.req.raw, IMPORT_LIMIT_BYTES)).toString('utf8');
    // With ?from=&to=, a step of a share move: rows of that bucket range only, the market not held (import.ts).
    const r = bucketQuery(c, d.types);
    return c.json(await importRows(d.db, m, await parseExport(text, m, d.types), d.importHoldMs, r));
  });
  app.get('/:m/summary', async (c) => {
    const m = market(c);
    const q = BucketQuerySchema.safeParse(c.req.query());
    if (!q.success) invalid(q.error.issues, 'query');
    const r = rangeOf(q.data);
    return c.json(r === undefined ? await marketSummary(d.db, d.log, d.group, m) : bucketSummary(d.db, m, r));
  });
  // Per-bucket freeze of a market moving by share: client writes of orders in a frozen range answer 409 market_frozen.
  app.get('/:m/freeze-buckets', (c) => {
    const m = market(c);
    return c.json({ market: m, frozen: frozenBuckets(d.db, m) });
  });
  app.post('/:m/freeze-buckets', async (c) => {
    const m = market(c);
    const r = await readJson(c, BucketRangeSchema);
    return c.json({ market: m, frozen: setBucketsFrozen(d.db, m, r, true) });
  });
  app.delete('/:m/freeze-buckets', async (c) => {
    const m = market(c);
    const r = await readJson(c, BucketRangeSchema);
    return c.json({ market: m, frozen: setBucketsFrozen(d.db, m, r, false) });
  });
  // The other cell of a market moving by share and the buckets it homes (share-peer.ts): lists and order reads ask it.
  app.get('/:m/share-peer', (c) => {
    const m = market(c);
    return c.json({ market: m, peer: getSharePeer(d.db, m) ?? null });
  });
  app.put('/:m/share-peer', async (c) => {
    const m = market(c);
    const peer = await readJson(c, SharePeerSchema);
    setSharePeer(d.db, m, peer);
    return c.json({ market: m, peer });
  });
  app.delete('/:m/share-peer', (c) => {
    const m = market(c);
    setSharePeer(d.db, m, undefined);
    return c.json({ market: m, peer: null });
  });
  app.post('/:m/freeze', (c) => {
    const m = market(c);
    setFrozen(d.db, m, true);
    return c.json({ market: m, frozen: true });
  });
  app.delete('/:m/freeze', (c) => {
    const m = market(c);
    setFrozen(d.db, m, false);
    return c.json({ market: m, frozen: false });
  });
  app.delete('/:m', async (c) => {
    const m = market(c);
    return c.json({ market: m, purged: await purgeMarket(d.db, m) });
  });
  return app;
}
