/**
 * The migration's view of a cell: the cell admin API (docs/contracts.md §Cell admin API: export, changes,
 * import, freeze, summary, purge, share peer), reached through the cell's passing `cellsim-cell`
 * instances in Consul, and a split cell's delivery service through its `cellsim-delivery` ones
 * (the same routes on its own rows: docs/kafka.md §Market migration on Kafka). Freeze and
 * unfreeze go to every instance (blue and green may both run).
 * Cells serving HTTPS (`cellctl up --tls`) are reached with the control plane's certificate
 * through a {@link PeerClient} that accepts only a cell's certificate (docs/security.md §TLS).
 */
import { SERVICE_CELL, SERVICE_DELIVERY, type ConsulClient } from '../../shared/consul.js';
import { peerClient, type PeerClient } from '../../shared/pki/client.js';

/** What a market looks like in one cell (GET /admin/markets/:m/summary). */
export interface MarketSummary {
  market: string;
  orders: number;
  deliveries: number;
  checksum: string;
  pending: { outbox: number; log: number; sagas: number };
}

/** A range of buckets of a market moving by share, `from` included, `to` excluded (0..10,000). */
export interface BucketRange {
  from: number;
  to: number;
}

/** What a bucket range looks like in one cell (GET /admin/markets/:m/summary?from=&to=). */
export interface RangeSummary {
  orders: number;
  deliveries: number;
  checksum: string;
  frozen: boolean;
}

/** The result of one copy (export or changes → import). */
export interface CopyResult {
  rows: number;
  cursor: string | number;
}

/**
 * Which service of a cell a call goes to: `cell` (an all-in-one cell, or a split cell's order
 * service: `cellsim-cell`) or a split cell's `delivery` service (`cellsim-delivery`).
 */
export type CellService = 'cell' | 'delivery';

/** Everything a migration asks of cells; the real one speaks HTTP, tests may fake it. Calls go to `cell` unless told. */
export interface CellAdmin {
  /** True when the cell (or its delivery service) has at least one passing instance. */
  healthy(cell: string, service?: CellService): Promise<boolean>;
  /** True when the cell runs split into order and delivery services (its `cellsim-cell` instance says `role: order`). */
  split(cell: string): Promise<boolean>;
  /**
   * Streams the market's snapshot (since = undefined) or its changes since a cursor from one cell into
   * another; with `range`, only the rows of that bucket range's orders (a step of a move by share).
   */
  copy(market: string, from: string, to: string, since?: string | number, service?: CellService, range?: BucketRange): Promise<CopyResult>;
  /** Freezes a bucket range of the market on every instance of the cell (its client writes answer 409, its sagas pause). */
  freezeBuckets(cell: string, market: string, range: BucketRange): Promise<void>;
  /** Thaws every frozen bucket range of the market on every instance of the cell. */
  thawBuckets(cell: string, market: string): Promise<void>;
  /** Counts and checksum of a bucket range's orders. */
  rangeSummary(cell: string, market: string, range: BucketRange): Promise<RangeSummary>;
  /**
   * Tells every instance of the cell which other cell homes which buckets of the market while it
   * moves by share (its lists and order reads ask that cell: docs/weighted-shifts.md §Reads during a move by share),
   * or that none does (`undefined`).
   */
  sharePeer(cell: string, market: string, peer: { cell: string; buckets: BucketRange } | undefined): Promise<void>;
  freeze(cell: string, market: string, service?: CellService): Promise<void>;
  unfreeze(cell: string, market: string, service?: CellService): Promise<void>;
  summary(cell: string, market: string, service?: CellService): Promise<MarketSummary>;
  purge(cell: string, market: string, service?: CellService): Promise<void>;
}

/** The HTTP implementation against real cells found in Consul. */
export class HttpCellAdmin implements CellAdmin {
  constructor(
    private readonly consul: ConsulClient,
    /** The cells' own admin token (`cell-admin`), never an operator's. */
    private readonly token: string,
    private readonly timeoutMs = 120_000,
    /** How cells are reached: plain HTTP by default, HTTPS with a client certificate under TLS. */
    private readonly client: PeerClient = peerClient(undefined, ['cell']),
  ) {}

  /** The text of `GET <url>/metrics` of an instance URL from {@link instances} (2 s timeout). */
  async metrics(url: string): Promise<string> {
    return this.client.text(`${url}/metrics`, 2000);
  }

  /** Closes the connections kept to cells. */
  close(): Promise<void> {
    return this.client.close();
  }

  /** Base URLs of every passing instance of `cell` (of one color, and version, when given), or of its delivery service. */
  async instances(cell: string, color?: string, version?: string, service: CellService = 'cell'): Promise<string[]> {
    return this.lookup(true, cell, color, version, service);
  }

  /**
   * Base URLs of every registered instance of `cell` (of one color, when given), passing or not:
   * what an SLO verdict scrapes, so that a health check missed under load does not hide an
   * instance's traffic (its counters read as none, and a step judged on none passes as inconclusive).
   */
  async registeredInstances(cell: string, color?: string): Promise<string[]> {
    return this.lookup(false, cell, color);
  }

  /**
   * Every registered instance of `cell`, passing ones first: a cell busy with a large import
   * may miss a health check, and a migration still needs to reach it.
   */
  async registered(cell: string, service: CellService = 'cell'): Promise<string[]> {
    const passing = await this.lookup(true, cell, undefined, undefined, service);
    const all = await this.lookup(false, cell, undefined, undefined, service);
    return [...passing, ...all.filter((u) => !passing.includes(u))];
  }

  private async lookup(passing: boolean, cell: string, color?: string, version?: string, service: CellService = 'cell'): Promise<string[]> {
    const name = service === 'delivery' ? SERVICE_DELIVERY : SERVICE_CELL;
    const { value: entries } = await this.consul.health.service(name, { passing, timeoutMs: 5000 });
    return entries
      .filter(
        (e) =>
          e.Service.Meta?.cell === cell &&
          (color === undefined || e.Service.Meta.color === color) &&
          (version === undefined || e.Service.Meta.version === version),
      )
      .map((e) => this.client.base(e.Service.Address || '127.0.0.1', e.Service.Port))
      .sort();
  }

  private readonly cache = new Map<string, { at: number; urls: string[] }>();

  /** {@link registered}, remembered for a second (a migration calls the same cells many times in its freeze window). */
  private async cached(cell: string, service: CellService = 'cell'): Promise<string[]> {
    const key = `${service}:${cell}`;
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < 1000 && hit.urls.length > 0) return hit.urls;
    const urls = await this.registered(cell, service);
    this.cache.set(key, { at: Date.now(), urls });
    return urls;
  }

  private async one(cell: string, service: CellService = 'cell'): Promise<string> {
    const [url] = await this.cached(cell, service);
    if (!url) throw new Error(`cell ${cell} has no ${service === 'delivery' ? 'delivery service ' : ''}instance`);
    return url;
  }

  private async call(url: string, method: string, path: string, init: RequestInit = {}): Promise<Response> {
    const res = await this.client.fetch(`${url}${path}`, {
      ...init,
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(init.headers as Record<string, string> | undefined) },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) throw new Error(`${method} ${url}${path} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    return res;
  }

  async healthy(cell: string, service: CellService = 'cell'): Promise<boolean> {
    return (await this.lookup(true, cell, undefined, undefined, service)).length > 0;
  }

  async split(cell: string): Promise<boolean> {
    const res = await this.call(await this.one(cell), 'GET', '/admin/status');
    return ((await res.json()) as { role?: string }).role === 'order';
  }

  async copy(
    market: string,
    from: string,
    to: string,
    since?: string | number,
    service: CellService = 'cell',
    range?: BucketRange,
  ): Promise<CopyResult> {
    const src = await this.one(from, service);
    const dst = await this.one(to, service);
    const m = encodeURIComponent(market);
    const q = range === undefined ? '' : `from=${range.from}&to=${range.to}`;
    const path =
      since === undefined
        ? `/admin/markets/${m}/export${q ? `?${q}` : ''}`
        : `/admin/markets/${m}/changes?since=${encodeURIComponent(String(since))}${q ? `&${q}` : ''}`;
    const exp = await this.call(src, 'GET', path);
    if (!exp.body) throw new Error(`export of ${market} from ${from} had no body`);
    const tail = new TailCapture();
    await this.call(dst, 'POST', `/admin/markets/${m}/import${q ? `?${q}` : ''}`, {
      body: exp.body.pipeThrough(tail.stream),
      headers: { 'content-type': 'application/x-ndjson' },
      duplex: 'half',
    });
    return tail.end();
  }

  /** Streams an export (NDJSON, from anywhere: a backup copy) into `to`'s import (its `service`'s); resolves with its end line. */
  async importInto(market: string, to: string, body: ReadableStream<Uint8Array>, service: CellService = 'cell'): Promise<CopyResult> {
    const tail = new TailCapture();
    await this.call(await this.one(to, service), 'POST', `/admin/markets/${encodeURIComponent(market)}/import`, {
      body: body.pipeThrough(tail.stream),
      headers: { 'content-type': 'application/x-ndjson' },
      duplex: 'half',
    });
    return tail.end();
  }

  async freeze(cell: string, market: string, service: CellService = 'cell'): Promise<void> {
    const urls = await this.cached(cell, service);
    if (urls.length === 0) throw new Error(`cell ${cell} has no passing instance to freeze`);
    await Promise.all(urls.map((u) => this.call(u, 'POST', `/admin/markets/${encodeURIComponent(market)}/freeze`)));
  }

  async unfreeze(cell: string, market: string, service: CellService = 'cell'): Promise<void> {
    const urls = await this.registered(cell, service);
    await Promise.all(urls.map((u) => this.call(u, 'DELETE', `/admin/markets/${encodeURIComponent(market)}/freeze`)));
  }

  async freezeBuckets(cell: string, market: string, range: BucketRange): Promise<void> {
    const urls = await this.registered(cell);
    if (urls.length === 0) throw new Error(`cell ${cell} has no instance to freeze buckets on`);
    const init = { body: JSON.stringify(range), headers: { 'content-type': 'application/json' } };
    await Promise.all(urls.map((u) => this.call(u, 'POST', `/admin/markets/${encodeURIComponent(market)}/freeze-buckets`, init)));
  }

  async thawBuckets(cell: string, market: string): Promise<void> {
    const m = encodeURIComponent(market);
    for (const u of await this.registered(cell)) {
      const res = await this.call(u, 'GET', `/admin/markets/${m}/freeze-buckets`);
      for (const r of ((await res.json()) as { frozen: BucketRange[] }).frozen) {
        const init = { body: JSON.stringify(r), headers: { 'content-type': 'application/json' } };
        await this.call(u, 'DELETE', `/admin/markets/${m}/freeze-buckets`, init);
      }
    }
  }

  async sharePeer(cell: string, market: string, peer: { cell: string; buckets: BucketRange } | undefined): Promise<void> {
    const path = `/admin/markets/${encodeURIComponent(market)}/share-peer`;
    const urls = await this.registered(cell);
    if (urls.length === 0) throw new Error(`cell ${cell} has no instance to tell its share peer`);
    if (!peer) {
      await Promise.all(urls.map((u) => this.call(u, 'DELETE', path)));
      return;
    }
    const peerUrls = await this.registered(peer.cell);
    if (peerUrls.length === 0) throw new Error(`cell ${peer.cell} has no instance a share peer could read`);
    const init = { body: JSON.stringify({ ...peer, urls: peerUrls }), headers: { 'content-type': 'application/json' } };
    await Promise.all(urls.map((u) => this.call(u, 'PUT', path, init)));
  }

  async rangeSummary(cell: string, market: string, range: BucketRange): Promise<RangeSummary> {
    const q = `from=${range.from}&to=${range.to}`;
    const res = await this.call(await this.one(cell), 'GET', `/admin/markets/${encodeURIComponent(market)}/summary?${q}`);
    return (await res.json()) as RangeSummary;
  }

  async summary(cell: string, market: string, service: CellService = 'cell'): Promise<MarketSummary> {
    const res = await this.call(await this.one(cell, service), 'GET', `/admin/markets/${encodeURIComponent(market)}/summary`);
    return (await res.json()) as MarketSummary;
  }

  async purge(cell: string, market: string, service: CellService = 'cell'): Promise<void> {
    await this.call(await this.one(cell, service), 'DELETE', `/admin/markets/${encodeURIComponent(market)}`);
  }
}

/** Passes an NDJSON stream through unchanged and remembers its `end` line (cursor and row count). */
class TailCapture {
  private tail = '';
  readonly stream = new TransformStream<Uint8Array, Uint8Array>({
    transform: (chunk, controller) => {
      this.tail = (this.tail + Buffer.from(chunk).toString('utf8')).slice(-4096);
      controller.enqueue(chunk);
    },
  });

  end(): CopyResult {
    const lines = this.tail.trim().split('\n');
    const last = lines[lines.length - 1] ?? '';
    let parsed: { type?: string; cursor?: string | number; rows?: number };
    try {
      parsed = JSON.parse(last) as typeof parsed;
    } catch {
      throw new Error('export stream did not end with a JSON end line (truncated?)');
    }
    if (parsed.type !== 'end' || parsed.cursor === undefined) throw new Error('export stream did not end with {"type":"end",...}');
    return { rows: parsed.rows ?? 0, cursor: parsed.cursor };
  }
}
