/**
 * The other cell of a market moving by share, as the control plane declares it
 * (docs/weighted-shifts.md §Reads during a move by share): its instances' base URLs and the bucket
 * range whose orders live there. A cell with a declaration answers a market's list and an order
 * read for that range from the peer (cells/share-reads.ts); kept in the cell's database so a
 * restarted process still knows it, and purged with the market.
 */
import type Database from 'better-sqlite3';
import { z } from 'zod';
import { EXPERIMENT_BUCKETS } from '../../shared/experiment.js';
import { CellIdSchema } from '../../shared/kv.js';
import { stmt } from '../db/stmt.js';
import type { BucketRange } from './buckets.js';

/** A market's peer: the cell, its instances, and the buckets it homes (`from` included, `to` excluded; empty when equal). */
export interface SharePeer {
  cell: string;
  urls: string[];
  buckets: BucketRange;
}

const bucket = z.number().int().min(0).max(EXPERIMENT_BUCKETS);

/** `PUT /admin/markets/:m/share-peer` body. */
export const SharePeerSchema = z
  .object({
    cell: CellIdSchema,
    urls: z
      .array(
        z
          .string()
          .url()
          .regex(/^https?:\/\//, 'an http(s) URL'),
      )
      .min(1)
      .max(16),
    buckets: z
      .object({ from: bucket, to: bucket })
      .strict()
      .refine((r) => r.from <= r.to, { message: 'from must not be above to', path: ['to'] }),
  })
  .strict();

/** The market's peer, or undefined when it is not moving by share. */
export function getSharePeer(db: Database.Database, market: string): SharePeer | undefined {
  const row = stmt(db, 'SELECT cell, urls, lo, hi FROM share_peers WHERE market = ?').get(market) as
    { cell: string; urls: string; lo: number; hi: number } | undefined;
  return row && { cell: row.cell, urls: JSON.parse(row.urls) as string[], buckets: { from: row.lo, to: row.hi } };
}

/** True when the market has a peer (one primary-key read: the request metrics ask it per request). */
export function hasSharePeer(db: Database.Database, market: string): boolean {
  return stmt(db, 'SELECT 1 FROM share_peers WHERE market = ?').get(market) !== undefined;
}

/** Declares (replaces) the market's peer, or removes it (`undefined`). */
export function setSharePeer(db: Database.Database, market: string, peer: SharePeer | undefined): void {
  if (!peer) {
    stmt(db, 'DELETE FROM share_peers WHERE market = ?').run(market);
    return;
  }
  stmt(
    db,
    `INSERT INTO share_peers (market, cell, urls, lo, hi, at) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (market) DO UPDATE SET cell = excluded.cell, urls = excluded.urls, lo = excluded.lo, hi = excluded.hi, at = excluded.at`,
  ).run(market, peer.cell, JSON.stringify(peer.urls), peer.buckets.from, peer.buckets.to, Date.now());
}

/** True when `bucket` lies in the peer's range. */
export function peerHomes(peer: SharePeer, bucketOf: number): boolean {
  return bucketOf >= peer.buckets.from && bucketOf < peer.buckets.to;
}
