/**
 * The last good routing table on disk (static stability): written atomically (temp file,
 * fsync, rename) after every applied change, read at start so a router that starts while
 * Consul is down still routes. The file is validated on read like any Consul value.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { CellIdSchema, CellRecordSchema, MarketRecordSchema, formatIssues } from '../../shared/kv.js';
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
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`snapshot ${path} is not JSON: ${(err as Error).message}`);
  }
  const parsed = SnapshotSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`snapshot ${path} is invalid: ${formatIssues(parsed.error).slice(0, 5).join('; ')}`);
  return parsed.data;
}

/**
 * Writes a snapshot atomically: readers see the old file or the new one, never a torn one.
 * Markets are written in slices, so 100,000 of them never become one string. Returns the byte size.
 */
export async function writeSnapshot(path: string, snap: Snapshot): Promise<number> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  const fh = await open(tmp, 'w', 0o644);
  let bytes = 0;
  const write = async (text: string) => {
    bytes += Buffer.byteLength(text);
    await fh.writeFile(text, 'utf8');
  };
  try {
    const head = { version: snap.version, savedAt: snap.savedAt, cells: snap.cells, endpoints: snap.endpoints };
    await write(`${JSON.stringify(head).slice(0, -1)},"markets":[`);
    for (let i = 0; i < snap.markets.length; i += 5000) {
      const part = JSON.stringify(snap.markets.slice(i, i + 5000)).slice(1, -1);
      if (part) await write(i === 0 ? part : `,${part}`);
    }
    await write(']}');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return bytes;
}
