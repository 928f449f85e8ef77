/**
 * An immutable snapshot of every resource one node receives, versioned by content: each type
 * carries the combined version of its resources, the snapshot the combination of the types.
 * `consistencyProblems()` is go-control-plane's check before publishing: every name a
 * resource refers to exists (a scope's route configuration, a route's cluster, a cluster's
 * endpoints). Scope keys are unique by construction (one per market name).
 */
import { mixOf, mixVersion, toggle, type Mix, type Resource } from '../resources/resource.js';
import {
  CLUSTER,
  ENDPOINT,
  LISTENER as LISTENER_TYPE,
  ROUTE,
  SCOPED_ROUTE,
  SEND_ORDER,
  SHORT_NAME,
  type TypeUrl,
} from '../resources/type-urls.js';

/** What changed from a base map (set by the builder): lets versions, checks and delta diffs touch only these names. */
export interface ChangeHint {
  base: ReadonlyMap<string, Resource>;
  names: ReadonlySet<string>;
}

/** One type's resources in a snapshot. */
export interface TypeSnapshot {
  readonly version: string;
  readonly items: ReadonlyMap<string, Resource>;
  /** Encoded size of all resources of the type. */
  readonly bytes: number;
  readonly mix: Readonly<Mix>;
  /** The previous TypeSnapshot and the names changed since it (a chain of at most DELTA_HISTORY_STEPS steps, to bound memory). */
  delta: { base: TypeSnapshot; names: ReadonlySet<string> } | undefined;
}

const typeCache = new WeakMap<ReadonlyMap<string, Resource>, TypeSnapshot>();
const hints = new WeakMap<ReadonlyMap<string, Resource>, ChangeHint>();

/**
 * Steps of history a type snapshot keeps (`delta`, then its base's, …): a delta client whose ACK
 * is still out when several changes come (one response in flight per type) is brought up to date
 * from the names changed since the snapshot it holds, not by a walk of every resource.
 */
export const DELTA_HISTORY_STEPS = 16;

/** Cuts `t`'s chain of deltas after {@link DELTA_HISTORY_STEPS} steps, so older snapshots can go. */
function trimHistory(t: TypeSnapshot): void {
  let at: TypeSnapshot | undefined = t;
  for (let i = 0; i < DELTA_HISTORY_STEPS && at?.delta; i++) at = at.delta.base;
  if (at) at.delta = undefined;
}

/**
 * The names changed from `from` to `to` when `from` is in `to`'s history; undefined when it is
 * not (too old, or another line).
 */
export function namesChangedSince(to: TypeSnapshot, from: TypeSnapshot): ReadonlySet<string> | undefined {
  if (to.delta?.base === from) return to.delta.names; // the usual case: one step
  const names = new Set<string>();
  for (let at: TypeSnapshot = to; at !== from;) {
    if (!at.delta) return undefined;
    for (const n of at.delta.names) names.add(n);
    at = at.delta.base;
  }
  return names;
}

/** Records that `items` is `hint.base` with `hint.names` changed (called by the builder). */
export function hintChanges(items: ReadonlyMap<string, Resource>, hint: ChangeHint): void {
  hints.set(items, hint);
}

/**
 * The TypeSnapshot of a resource map, computed once per map (shared maps are shared by every
 * node). With a change hint whose base is known, the version and size are updated from the
 * base for the changed names only.
 */
export function typeSnapshot(items: ReadonlyMap<string, Resource>): TypeSnapshot {
  let t = typeCache.get(items);
  if (t !== undefined) return t;
  const hint = hints.get(items);
  const base = hint ? typeCache.get(hint.base) : undefined;
  if (hint && base) {
    const mix = { ...base.mix };
    let bytes = base.bytes;
    for (const name of hint.names) {
      const old = hint.base.get(name);
      const now = items.get(name);
      if (old === now) continue;
      if (old) {
        toggle(mix, old, -1);
        bytes -= old.any.value.length;
      }
      if (now) {
        toggle(mix, now, 1);
        bytes += now.any.value.length;
      }
    }
    t = { version: mixVersion(mix), items, bytes, mix, delta: { base, names: hint.names } };
    trimHistory(t);
  } else {
    let bytes = 0;
    for (const r of items.values()) bytes += r.any.value.length;
    const mix = mixOf(items.values());
    t = { version: mixVersion(mix), items, bytes, mix, delta: undefined };
  }
  hints.delete(items);
  typeCache.set(items, t);
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

  /**
   * Every broken reference; empty when the snapshot may be published. Against `previous`
   * (the node's last snapshot, which passed this check), when clusters, endpoints and routes
   * have the same content, only what could have broken is checked: the listener, and the
   * scopes changed since `previous` (none when the scopes are the same too). A market move
   * thus checks one scope, and a change that alters nothing checks no scope at all, however
   * many markets there are.
   */
  consistencyProblems(previous?: Snapshot): string[] {
    const problems: string[] = [];
    const check = (t: TypeUrl, r: Resource) => {
      for (const ref of r.refs) {
        if (ref.name === '*') continue; // a wildcard subscription (the listener's scoped routes)
        if (!this.type(ref.type).items.has(ref.name))
          problems.push(`${SHORT_NAME[t]} ${r.name}: refers to missing ${SHORT_NAME[ref.type]} ${ref.name}`);
      }
    };
    const scopes = this.type(SCOPED_ROUTE);
    const prevScopes = previous?.type(SCOPED_ROUTE);
    const onlyScopes =
      previous !== undefined &&
      ([CLUSTER, ENDPOINT, ROUTE] as TypeUrl[]).every((t) => this.type(t).version === previous.type(t).version) &&
      (scopes.version === prevScopes!.version || scopes.delta?.base === prevScopes);
    for (const [t, ts] of this.types) {
      if (onlyScopes && t === SCOPED_ROUTE) {
        if (scopes.version === prevScopes!.version) continue;
        for (const name of scopes.delta!.names) {
          const r = ts.items.get(name);
          if (r) check(t, r);
        }
        continue;
      }
      if (onlyScopes && t !== LISTENER_TYPE) continue;
      for (const r of ts.items.values()) {
        check(t, r);
        if (problems.length >= 20) return problems;
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
