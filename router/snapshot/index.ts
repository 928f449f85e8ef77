/**
 * The last good routing table on disk (static stability): written atomically (temp file,
 * fsync, rename) after every applied change, read at start so a router that starts while
 * Consul is down still routes. The file is validated on read like any Consul value.
 */
import { z } from 'zod';
import { readJsonFile, writeFileAtomic } from '../../shared/atomic-file.js';
import { CellIdSchema, CellRecordSchema, MarketRecordSchema } from '../../shared/kv.js';
import type { CellRecord, MarketRecord } from '../../shared/kv.js';
import type { Endpoint } from '../../shared/routing-table.js';

const EndpointSchema = z
  .object({
    id: z.string().min(1),
    cell: CellIdSchema,
    address: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    version: z.string(),
    color: z.enum(['blue', 'green']),
  })
  .strict();

/** The snapshot file's schema (version 1). */
export const SnapshotSchema = z.object({
  version: z.literal(1),
  savedAt: z.string(),
  /** `[id, record, ModifyIndex]` for every cell and market. */
  cells: z.array(z.tuple([CellIdSchema, CellRecordSchema, z.number().int().nonnegative()])),
  markets: z.array(z.tuple([z.string(), MarketRecordSchema, z.number().int().nonnegative()])),
  endpoints: z.array(EndpointSchema),
});

/** A persisted routing table. */
export interface Snapshot {
  version: 1;
  savedAt: string;
  cells: [string, CellRecord, number][];
  markets: [string, MarketRecord, number][];
  endpoints: Endpoint[];
}

/** Reads and validates a snapshot; `undefined` when the file does not exist. Throws on a corrupt file. */
export async function readSnapshot(path: string): Promise<Snapshot | undefined> {
  return readJsonFile(path, SnapshotSchema, 'snapshot');
}

/** What {@link writeSnapshot} writes: a snapshot whose markets may be read one at a time. */
export type SnapshotSource = Omit<Snapshot, 'markets'> & { markets: Iterable<Snapshot['markets'][number]> };

/** Markets per slice written; the writer gives the event loop back between slices. */
const MARKETS_PER_SLICE = 1000;

/**
 * Writes a snapshot atomically (shared/atomic-file.ts): readers see the old file or the new one,
 * never a torn one. Markets are read from their iterable and written in slices, so 100,000 of
 * them never become one string or one array, and the thread stays free between slices (the
 * router's table worker applies a market change there rather than after the whole file).
 * Returns the byte size.
 */
export async function writeSnapshot(path: string, snap: SnapshotSource): Promise<number> {
  return writeFileAtomic(path, snapshotChunks(snap));
}

function* snapshotChunks(snap: SnapshotSource): Generator<string> {
  const head = { version: snap.version, savedAt: snap.savedAt, cells: snap.cells, endpoints: snap.endpoints };
  yield `${JSON.stringify(head).slice(0, -1)},"markets":[`;
  let first = true;
  let slice: Snapshot['markets'] = [];
  const flush = () => {
    const part = JSON.stringify(slice).slice(1, -1);
    const out = first ? part : `,${part}`;
    first = false;
    slice = [];
    return out;
  };
  for (const market of snap.markets) {
    slice.push(market);
    if (slice.length === MARKETS_PER_SLICE) yield flush();
  }
  if (slice.length > 0) yield flush();
  yield ']}';
}
