/**
 * Per-node snapshots (go-control-plane's SnapshotCache): `setSnapshot` publishes an immutable
 * snapshot for one node after its consistency check, and every stream of that node watching
 * the cache is told. A snapshot that fails the check is refused; the node keeps its last one.
 */
import { CellsimError } from '../../../shared/errors.js';
import type { Snapshot } from './snapshot.js';

/** Called with a node's new snapshot. */
export type SnapshotListener = (snapshot: Snapshot) => void;

/** Thrown by {@link SnapshotCache.setSnapshot} for an inconsistent snapshot (code `inconsistent_snapshot`). */
export class InconsistentSnapshotError extends CellsimError {
  readonly problems: string[];
  constructor(node: string, problems: string[]) {
    super('inconsistent_snapshot', `snapshot for node ${node} is inconsistent: ${problems.slice(0, 5).join('; ')}`);
    this.name = 'InconsistentSnapshotError';
    this.problems = problems;
  }
}

/** The per-node snapshot store. */
export class SnapshotCache {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly listeners = new Map<string, Set<SnapshotListener>>();

  /** Publishes `snapshot` for `node`; unchanged versions are not re-announced. */
  setSnapshot(node: string, snapshot: Snapshot, opts: { skipCheck?: boolean } = {}): void {
    if (!opts.skipCheck) {
      const problems = snapshot.consistencyProblems(this.snapshots.get(node));
      if (problems.length > 0) throw new InconsistentSnapshotError(node, problems);
    }
    const previous = this.snapshots.get(node);
    if (previous?.version === snapshot.version) return;
    this.snapshots.set(node, snapshot);
    for (const l of this.listeners.get(node) ?? []) l(snapshot);
  }

  /** The node's current snapshot, if any. */
  getSnapshot(node: string): Snapshot | undefined {
    return this.snapshots.get(node);
  }

  /** Removes a node's snapshot (e.g. a node gone for good). */
  clearSnapshot(node: string): void {
    this.snapshots.delete(node);
  }

  /** Nodes that have a snapshot. */
  nodes(): string[] {
    return [...this.snapshots.keys()];
  }

  /** Calls `listener` on each new snapshot of `node`; returns the unsubscribe function. */
  watch(node: string, listener: SnapshotListener): () => void {
    let set = this.listeners.get(node);
    if (!set) this.listeners.set(node, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(node);
    };
  }
}
