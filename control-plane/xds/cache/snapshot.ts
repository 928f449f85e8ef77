/**
 * An immutable snapshot of every resource one node receives, versioned by content: each type
 * carries the combined version of its resources, the snapshot the combination of the types.
 * `consistencyProblems()` is go-control-plane's check before publishing: every name a
 * resource refers to exists (a scope's route configuration, a route's cluster, a cluster's
 * endpoints). Scope keys are unique by construction (one per market name).
 */
import { combinedVersion, type Resource } from '../resources/resource.js';
import { SEND_ORDER, SHORT_NAME, type TypeUrl } from '../resources/type-urls.js';

/** One type's resources in a snapshot. */
export interface TypeSnapshot {
  readonly version: string;
  readonly items: ReadonlyMap<string, Resource>;
  /** Encoded size of all resources of the type. */
  readonly bytes: number;
}

const typeCache = new WeakMap<ReadonlyMap<string, Resource>, TypeSnapshot>();

/** The TypeSnapshot of a resource map (computed once per map: shared maps are shared by every node). */
export function typeSnapshot(items: ReadonlyMap<string, Resource>): TypeSnapshot {
  let t = typeCache.get(items);
  if (t === undefined) {
    let bytes = 0;
    for (const r of items.values()) bytes += r.any.value.length;
    t = Object.freeze({ version: combinedVersion(items.values()), items, bytes });
    typeCache.set(items, t);
  }
  return t;
}

/** An immutable snapshot. */
export class Snapshot {
  readonly version: string;
  readonly types: ReadonlyMap<TypeUrl, TypeSnapshot>;
  /** `performance.now()` when the change that produced it was first seen (for push latency). */
  readonly changedAt: number;

  constructor(resources: ReadonlyMap<TypeUrl, ReadonlyMap<string, Resource>>, changedAt = performance.now()) {
    const types = new Map<TypeUrl, TypeSnapshot>();
    for (const t of SEND_ORDER) types.set(t, typeSnapshot(resources.get(t) ?? new Map<string, Resource>()));
    this.types = types;
    this.version = SEND_ORDER.map((t) => `${SHORT_NAME[t]}:${types.get(t)!.version}`).join(',');
    this.changedAt = changedAt;
    Object.freeze(this);
  }

  /** The resources of a type (empty when none). */
  type(t: TypeUrl): TypeSnapshot {
    return this.types.get(t)!;
  }

  /** Every broken reference; empty when the snapshot may be published. */
  consistencyProblems(): string[] {
    const problems: string[] = [];
    for (const [t, ts] of this.types) {
      for (const r of ts.items.values()) {
        for (const ref of r.refs) {
          if (ref.name === '*') continue; // a wildcard subscription (the listener's scoped routes)
          if (!this.type(ref.type).items.has(ref.name)) {
            problems.push(`${SHORT_NAME[t]} ${r.name}: refers to missing ${SHORT_NAME[ref.type]} ${ref.name}`);
            if (problems.length >= 20) return problems;
          }
        }
      }
    }
    return problems;
  }

  /** Resource counts and bytes per type (for logs, metrics and /xds/status). */
  summary(): Record<string, { version: string; resources: number; bytes: number }> {
    const out: Record<string, { version: string; resources: number; bytes: number }> = {};
    for (const [t, ts] of this.types) out[SHORT_NAME[t]] = { version: ts.version, resources: ts.items.size, bytes: ts.bytes };
    return out;
  }
}
