/**
 * The xDS server's last good routing view on disk (docs/contracts.md §Following Consul: keep serving from the last good
 * table, also persisted, while Consul is down): cells, markets, the passing cell instances and
 * the hold endpoints, as they were last built from a complete Consul view. Written atomically
 * (shared/atomic-file.ts) after changes, at most once per `minIntervalMs` and never more often
 * than ten times its own cost; read at start, so a control plane restarted while Consul is
 * down still gives a fresh Envoy a full routing table. Validated on read like any Consul value.
 */
import { z } from 'zod';
import { readJsonFile, writeFileAtomic } from '../../shared/atomic-file.js';
import { CellIdSchema, CellRecordSchema, MarketRecordSchema, type CellRecord, type MarketRecord } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import { MARKET_ID_PATTERN } from '../../shared/market.js';
import type { Endpoint } from '../../shared/routing-table.js';

const EndpointSchema = z
  .object({
    id: z.string().min(1),
    cell: z.string().min(1),
    address: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    version: z.string(),
    color: z.enum(['blue', 'green']),
  })
  .strict();

const LastGoodSchema = z
  .object({
    version: z.literal(1),
    savedAt: z.string(),
    cells: z.array(z.tuple([CellIdSchema, CellRecordSchema])),
    markets: z.array(z.tuple([z.string().regex(new RegExp(MARKET_ID_PATTERN)), MarketRecordSchema])),
    endpoints: z.array(EndpointSchema),
    holdEndpoints: z.array(EndpointSchema),
  })
  .strict();

/** A routing view: what the Consul feed builds from and what is persisted. */
export interface RoutingView {
  cells: ReadonlyMap<string, CellRecord>;
  markets: ReadonlyMap<string, MarketRecord>;
  /** Every passing `cellsim-cell` instance (all colors). */
  endpoints: readonly Endpoint[];
  /** Passing `cellsim-xds` instances. */
  holdEndpoints: readonly Endpoint[];
}

/** A view read back from disk, with when it was saved. */
export interface LoadedView extends RoutingView {
  savedAt: string;
}

/** Reads the last good view; undefined when there is none. Throws on a corrupt or invalid file. */
export async function readLastGood(path: string): Promise<LoadedView | undefined> {
  const d = await readJsonFile(path, LastGoodSchema, 'last good view');
  if (d === undefined) return undefined;
  return {
    savedAt: d.savedAt,
    cells: new Map(d.cells),
    markets: new Map(d.markets),
    endpoints: d.endpoints,
    holdEndpoints: d.holdEndpoints,
  };
}

/** The file's text in chunks (markets in slices of 5,000: 100,000 of them never become one string). */
function* chunks(v: RoutingView, savedAt: string): Generator<string> {
  const head = { version: 1, savedAt, cells: [...v.cells], endpoints: v.endpoints, holdEndpoints: v.holdEndpoints };
  yield `${JSON.stringify(head).slice(0, -1)},"markets":[`;
  let slice: [string, MarketRecord][] = [];
  let first = true;
  const flush = () => {
    const part = JSON.stringify(slice).slice(1, -1);
    slice = [];
    const out = first ? part : `,${part}`;
    first = false;
    return out;
  };
  for (const e of v.markets) {
    slice.push(e);
    if (slice.length === 5000) yield flush();
  }
  if (slice.length > 0) yield flush();
  yield ']}';
}

/** Writes a view atomically now; returns the byte size. */
export function writeLastGood(path: string, v: RoutingView, savedAt = new Date().toISOString()): Promise<number> {
  return writeFileAtomic(path, chunks(v, savedAt));
}

/** Outcome of one write, for metrics. */
export interface WriteReport {
  ok: boolean;
  bytes: number;
  ms: number;
}

/**
 * Saves views in the background: the latest view wins, one write at a time, at most once per
 * `minIntervalMs` and at most every ten times the last write's cost (a 100,000-market file
 * must not eat the event loop during a burst of moves). `flush()` writes what is pending now.
 */
export class LastGoodWriter {
  private pending: RoutingView | undefined;
  private writing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastAt = 0;
  private lastCostMs = 0;
  /** When the newest successful write happened (ISO), undefined before one. */
  savedAt: string | undefined;

  constructor(
    readonly path: string,
    private readonly log: Logger,
    private readonly report: (r: WriteReport) => void = () => undefined,
    private readonly minIntervalMs = 1000,
  ) {}

  /** Queues `v` to be written. */
  save(v: RoutingView): void {
    this.pending = v;
    this.schedule();
  }

  private schedule(): void {
    if (this.writing !== undefined || this.timer !== undefined || this.pending === undefined) return;
    const gap = Math.max(this.minIntervalMs, this.lastCostMs * 10);
    const wait = Math.max(0, this.lastAt + gap - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.writeNow();
    }, wait);
    this.timer.unref();
  }

  private async writeNow(): Promise<void> {
    const v = this.pending;
    if (v === undefined || this.writing !== undefined) return;
    this.pending = undefined;
    const t0 = performance.now();
    const savedAt = new Date().toISOString();
    this.writing = writeLastGood(this.path, v, savedAt).then(
      (bytes) => {
        this.savedAt = savedAt;
        this.report({ ok: true, bytes, ms: performance.now() - t0 });
      },
      (err: Error) => {
        this.log.warn({ err: err.message, path: this.path }, 'could not write the last good view; the previous file stays');
        this.report({ ok: false, bytes: 0, ms: performance.now() - t0 });
      },
    );
    await this.writing;
    this.writing = undefined;
    this.lastAt = performance.now();
    this.lastCostMs = this.lastAt - t0;
    this.schedule();
  }

  /** Writes the pending view now (waits for a write in progress first). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.writing) await this.writing;
    await this.writeNow();
  }
}
