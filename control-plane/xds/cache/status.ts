/**
 * ACK/NACK bookkeeping per node and type, kept across reconnects: what was sent, what the
 * node last accepted, and what it last rejected with the error (the surface of GET
 * /xds/status). A NACK never erases the last ACKed version.
 */
import { SHORT_NAME, type TypeUrl } from '../resources/type-urls.js';

/** One node's state for one type. */
export interface TypeStatus {
  mode: 'sotw' | 'delta';
  lastSentVersion?: string;
  lastSentNonce?: string;
  lastSentAt?: string;
  lastAckedVersion?: string;
  lastAckedAt?: string;
  lastNack?: { version: string; nonce: string; error: string; at: string };
  nacks: number;
  pushes: number;
  /** True while a NACKed version is parked (not resent until the snapshot changes). */
  parked: boolean;
}

/** One node as /xds/status shows it. */
export interface NodeStatus {
  id: string;
  cluster?: string;
  connected: boolean;
  streams: number;
  connectedAt?: string;
  disconnectedAt?: string;
  types: Record<string, TypeStatus>;
}

/** The status store. */
export class StatusStore {
  private readonly nodes = new Map<string, NodeStatus>();

  private node(id: string): NodeStatus {
    let n = this.nodes.get(id);
    if (!n) this.nodes.set(id, (n = { id, connected: false, streams: 0, types: {} }));
    return n;
  }

  private type(id: string, type: TypeUrl, mode: 'sotw' | 'delta'): TypeStatus {
    const n = this.node(id);
    const key = SHORT_NAME[type];
    let t = n.types[key];
    if (!t) n.types[key] = t = { mode, nacks: 0, pushes: 0, parked: false };
    t.mode = mode;
    return t;
  }

  /** A stream of `id` opened. */
  streamOpened(id: string, cluster: string | undefined): void {
    const n = this.node(id);
    n.streams += 1;
    n.connected = true;
    n.cluster = cluster;
    n.connectedAt = new Date().toISOString();
  }

  /** A stream of `id` closed. */
  streamClosed(id: string): void {
    const n = this.node(id);
    n.streams = Math.max(0, n.streams - 1);
    if (n.streams === 0) {
      n.connected = false;
      n.disconnectedAt = new Date().toISOString();
    }
  }

  /** A response was sent. */
  sent(id: string, type: TypeUrl, mode: 'sotw' | 'delta', version: string, nonce: string): void {
    const t = this.type(id, type, mode);
    t.lastSentVersion = version;
    t.lastSentNonce = nonce;
    t.lastSentAt = new Date().toISOString();
    t.pushes += 1;
  }

  /** The node accepted `version`. */
  acked(id: string, type: TypeUrl, mode: 'sotw' | 'delta', version: string): void {
    const t = this.type(id, type, mode);
    t.lastAckedVersion = version;
    t.lastAckedAt = new Date().toISOString();
    t.parked = false;
  }

  /** The node rejected `version` with `error`; the version stays parked until the snapshot changes. */
  nacked(id: string, type: TypeUrl, mode: 'sotw' | 'delta', version: string, nonce: string, error: string): void {
    const t = this.type(id, type, mode);
    t.lastNack = { version, nonce, error, at: new Date().toISOString() };
    t.nacks += 1;
    t.parked = true;
  }

  /** A parked type was unparked by a new snapshot. */
  unparked(id: string, type: TypeUrl, mode: 'sotw' | 'delta'): void {
    this.type(id, type, mode).parked = false;
  }

  /** Every node (a copy). */
  list(): NodeStatus[] {
    return [...this.nodes.values()].map((n) => structuredClone(n));
  }

  /** Number of nodes with at least one open stream. */
  connectedNodes(): number {
    let c = 0;
    for (const n of this.nodes.values()) if (n.connected) c += 1;
    return c;
  }
}

/**
 * The nodes that may not hold the current routes, each as `id: why`: connected with a route type
 * (`rds`, `srds`) whose last ACKed version is not `current(id, key)`, or with no routes built for
 * it yet (no snapshot: `current` undefined for both), or disconnected less than `endedWithinMs` before `now` (cut off, such a node may still
 * route on what it had; docs/operators.md §Waiting for the data planes).
 */
export function nodesBehind(
  nodes: readonly NodeStatus[],
  current: (id: string, key: 'rds' | 'srds') => string | undefined,
  endedWithinMs: number,
  now = Date.now(),
): string[] {
  const out: string[] = [];
  for (const n of nodes) {
    if (!n.connected) {
      const ago = now - Date.parse(n.disconnectedAt ?? '');
      if (ago < endedWithinMs) out.push(`${n.id}: its xDS stream ended ${ago} ms ago`);
      continue;
    }
    if (current(n.id, 'rds') === undefined && current(n.id, 'srds') === undefined) {
      out.push(`${n.id}: no routes built for it yet`);
      continue;
    }
    const behind = (['rds', 'srds'] as const).some((key) => {
      const ts = n.types[key];
      return ts !== undefined && ts.lastAckedVersion !== current(n.id, key);
    });
    if (behind) out.push(`${n.id}: has not ACKed the current routes`);
  }
  return out;
}
