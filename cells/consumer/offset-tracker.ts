/**
 * Per-partition commit positions of a consumer-group member (cells/consumer/group-consumer.ts):
 * the offset to commit is the lowest record still running, or one past the highest record seen
 * when none runs. A new group generation ({@link OffsetTracker.reset}) forgets everything: records
 * still running from the old one finish without moving any position of the new one.
 */

/** A record being handled, as {@link OffsetTracker.begin} hands it out. */
export interface OffsetToken {
  partition: number;
  offset: number;
  generation: number;
}

/** An offset due for a commit. */
export interface DueOffset {
  partition: number;
  next: number;
  generation: number;
}

interface PartitionPositions {
  /** Offsets running now, with how many times each (a record read twice). */
  running: Map<number, number>;
  maxSeen: number;
  committed: number;
}

/** Commit positions of the partitions a member holds. */
export class OffsetTracker {
  private generation = 0;
  private parts = new Map<number, PartitionPositions>();

  /** A new generation holding `partitions`. */
  reset(partitions: readonly number[]): void {
    this.generation++;
    this.parts = new Map(partitions.map((p) => [p, { running: new Map(), maxSeen: -1, committed: -1 }]));
  }

  /** A record starts; one of a partition this member does not hold is run but never committed. */
  begin(partition: number, offset: number): OffsetToken {
    const s = this.parts.get(partition);
    if (!s) return { partition, offset, generation: -1 };
    s.running.set(offset, (s.running.get(offset) ?? 0) + 1);
    if (offset > s.maxSeen) s.maxSeen = offset;
    return { partition, offset, generation: this.generation };
  }

  /** A record finished. */
  finish(t: OffsetToken): void {
    if (t.generation !== this.generation) return;
    const s = this.parts.get(t.partition);
    const n = s?.running.get(t.offset);
    if (!s || n === undefined) return;
    if (n > 1) s.running.set(t.offset, n - 1);
    else s.running.delete(t.offset);
  }

  /** The offsets to commit: per partition, below its lowest running record, where that moved past the last commit. */
  due(): DueOffset[] {
    const out: DueOffset[] = [];
    for (const [partition, s] of this.parts) {
      if (s.maxSeen < 0) continue;
      let next = s.maxSeen + 1;
      for (const o of s.running.keys()) if (o < next) next = o;
      if (next > s.committed) out.push({ partition, next, generation: this.generation });
    }
    return out;
  }

  /** Records a successful commit of `due`. */
  committed(due: readonly DueOffset[]): void {
    for (const d of due) {
      const s = this.parts.get(d.partition);
      if (s && d.generation === this.generation && d.next > s.committed) s.committed = d.next;
    }
  }
}
