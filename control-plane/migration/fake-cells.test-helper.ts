/** An in-memory stand-in for the cell admin API, for the migration state machine's unit tests only. */
import { createHash } from 'node:crypto';
import { experimentBucket } from '../../shared/experiment.js';
import type { BucketRange, CellAdmin, CellService, CopyResult, MarketSummary, RangeSummary } from './cell-client.js';

/** A fake order's bucket: its id stands for its customer. */
const inRange = (id: string, r: BucketRange) => r.from <= experimentBucket(id) && experimentBucket(id) < r.to;

/** One fake cell's data (or one split cell's delivery service's): market → order ids. */
interface FakeCell {
  orders: Map<string, Set<string>>;
  frozen: Set<string>;
  /** Frozen bucket ranges (of any market: the tests move one). */
  ranges: BucketRange[];
  pending: number;
  healthy: boolean;
  /** The cell runs split: its delivery service is the fake cell `<id>/delivery`. */
  split?: boolean;
}

/** Fake cells with hooks to inject failures between steps. */
export class FakeCells implements CellAdmin {
  readonly cells = new Map<string, FakeCell>();
  /** Called at the start of each operation; throw to inject a failure. */
  hook: (op: string, cell: string) => void | Promise<void> = () => undefined;
  readonly calls: string[] = [];

  constructor(ids: string[], opts: { split?: string[] } = {}) {
    for (const id of ids) {
      const split = opts.split?.includes(id);
      this.cells.set(id, { orders: new Map(), frozen: new Set(), ranges: [], pending: 0, healthy: true, ...(split ? { split } : {}) });
      if (split) this.cells.set(`${id}/delivery`, { orders: new Map(), frozen: new Set(), ranges: [], pending: 0, healthy: true });
    }
  }

  private cell(id: string): FakeCell {
    const c = this.cells.get(id);
    if (!c) throw new Error(`no fake cell ${id}`);
    return c;
  }

  /** The fake cell a call to `service` of `id` reaches; calls to a delivery service are logged with its name. */
  private at(id: string, service: CellService = 'cell'): string {
    return service === 'delivery' ? `${id}/delivery` : id;
  }

  async split(cell: string): Promise<boolean> {
    return this.cell(cell).split === true;
  }

  /** Adds orders to a market in a cell (refused while frozen, like the real cell). */
  write(cell: string, market: string, ids: string[]): void {
    const c = this.cell(cell);
    if (c.frozen.has(market) || ids.some((id) => c.ranges.some((r) => inRange(id, r)))) throw new Error('market_frozen');
    const set = c.orders.get(market) ?? new Set<string>();
    for (const id of ids) set.add(id);
    c.orders.set(market, set);
  }

  orders(cell: string, market: string): string[] {
    return [...(this.cell(cell).orders.get(market) ?? [])].sort();
  }

  async healthy(cell: string, service?: CellService): Promise<boolean> {
    return this.cells.get(this.at(cell, service))?.healthy ?? false;
  }

  async copy(
    market: string,
    fromCell: string,
    toCell: string,
    since?: string | number,
    service?: CellService,
    range?: BucketRange,
  ): Promise<CopyResult> {
    const [from, to] = [this.at(fromCell, service), this.at(toCell, service)];
    // A change copy is a 'precopy' while the source still takes writes, a 'delta' once it is frozen.
    const op = since === undefined ? 'copy' : this.cell(from).frozen.has(market) ? 'delta' : 'precopy';
    this.calls.push(`copy ${from}->${to}${since === undefined ? '' : ` ${op}`}${range ? ` ${range.from}-${range.to}` : ''}`);
    await this.hook(op, from);
    const rows = this.orders(from, market).filter((id) => range === undefined || inRange(id, range));
    const dst = this.cell(to);
    const set = dst.orders.get(market) ?? new Set<string>();
    let n = 0;
    for (const id of rows) {
      if (set.has(id)) continue;
      set.add(id);
      n++;
    }
    dst.orders.set(market, set);
    return { rows: since === undefined ? rows.length : n, cursor: rows.length };
  }

  async freeze(id: string, market: string, service?: CellService): Promise<void> {
    const cell = this.at(id, service);
    this.calls.push(`freeze ${cell}`);
    await this.hook('freeze', cell);
    this.cell(cell).frozen.add(market);
  }

  async unfreeze(id: string, market: string, service?: CellService): Promise<void> {
    const cell = this.at(id, service);
    this.calls.push(`unfreeze ${cell}`);
    this.cell(cell).frozen.delete(market);
  }

  async summary(id: string, market: string, service?: CellService): Promise<MarketSummary> {
    const cell = this.at(id, service);
    await this.hook('summary', cell);
    const ids = this.orders(cell, market);
    const c = this.cell(cell);
    const pending = c.pending;
    if (c.pending > 0) c.pending -= 1;
    return {
      market,
      orders: ids.length,
      deliveries: ids.length,
      checksum: createHash('sha256').update(ids.join(',')).digest('hex').slice(0, 16),
      pending: { outbox: pending, log: 0, sagas: 0 },
    };
  }

  async freezeBuckets(id: string, _market: string, range: BucketRange): Promise<void> {
    this.calls.push(`freeze-buckets ${id} ${range.from}-${range.to}`);
    await this.hook('freeze-buckets', id);
    this.cell(id).ranges.push(range);
  }

  async thawBuckets(id: string): Promise<void> {
    this.calls.push(`thaw-buckets ${id}`);
    this.cell(id).ranges = [];
  }

  /** Each cell's declared share peer: `<peer> <from>-<to>`. */
  readonly peers = new Map<string, string>();

  async sharePeer(id: string, _market: string, peer: { cell: string; buckets: BucketRange } | undefined): Promise<void> {
    const what = peer ? `${peer.cell} ${peer.buckets.from}-${peer.buckets.to}` : '-';
    this.calls.push(`share-peer ${id} ${what}`);
    await this.hook('share-peer', id);
    if (peer) this.peers.set(id, what);
    else this.peers.delete(id);
  }

  async rangeSummary(id: string, market: string, range: BucketRange): Promise<RangeSummary> {
    const ids = this.orders(id, market).filter((o) => inRange(o, range));
    const checksum = createHash('sha256').update(ids.join(',')).digest('hex').slice(0, 16);
    return {
      orders: ids.length,
      deliveries: ids.length,
      checksum,
      frozen: this.cell(id).ranges.some((r) => r.from <= range.from && range.to <= r.to),
    };
  }

  async purge(id: string, market: string, service?: CellService): Promise<void> {
    const cell = this.at(id, service);
    this.calls.push(`purge ${cell}`);
    await this.hook('purge', cell);
    this.cell(cell).orders.delete(market);
    this.cell(cell).ranges = [];
    this.peers.delete(cell);
  }
}
