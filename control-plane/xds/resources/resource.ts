/**
 * One encoded xDS resource: its name, its content version (a hash of its bytes, so two
 * control-plane replicas give the same resource the same version), the Any that goes on the
 * wire, and the names of other resources it depends on (for the snapshot consistency check).
 */
import { createHash } from 'node:crypto';
import { encodeAny, type AnyMessage } from './proto.js';
import { messageName, type TypeUrl } from './type-urls.js';

/** A reference from one resource to another (a route naming a cluster, a scope naming a route). */
export interface ResourceRef {
  type: TypeUrl;
  name: string;
}

/** An immutable, encoded resource. */
export interface Resource {
  readonly type: TypeUrl;
  readonly name: string;
  /** Content version: first 16 hex digits of sha256 over the encoded bytes. */
  readonly version: string;
  readonly any: AnyMessage;
  readonly refs: readonly ResourceRef[];
  /** 128 bits of hash(name, version), combined by XOR into the version of a whole type. */
  readonly mix: Uint32Array;
}

/** Encodes `object` as a resource of `type`; throws when the object does not fit the proto. */
export function makeResource(type: TypeUrl, name: string, object: Record<string, unknown>, refs: ResourceRef[] = []): Resource {
  const any = encodeAny(messageName(type), object);
  return fromAny(type, name, any, refs);
}

/** Wraps an already encoded Any (used by the test-only injection of a resource Envoy rejects). */
export function fromAny(type: TypeUrl, name: string, any: AnyMessage, refs: ResourceRef[] = []): Resource {
  const version = createHash('sha256').update(any.value).digest('hex').slice(0, 16);
  const mixBuf = createHash('sha256').update(name).update('\0').update(version).digest();
  const mix = new Uint32Array([mixBuf.readUInt32BE(0), mixBuf.readUInt32BE(4), mixBuf.readUInt32BE(8), mixBuf.readUInt32BE(12)]);
  return Object.freeze({ type, name, version, any, refs: Object.freeze(refs), mix });
}

/** An order-independent digest of a set of resources: count and XOR of their mixes. */
export interface Mix {
  n: number;
  a: number;
  b: number;
  c: number;
  d: number;
}

/** The mix of `resources`. */
export function mixOf(resources: Iterable<Resource>): Mix {
  const m: Mix = { n: 0, a: 0, b: 0, c: 0, d: 0 };
  for (const r of resources) toggle(m, r, 1);
  return m;
}

/** Adds (`sign` 1) or removes (-1) one resource from a mix in place (XOR is its own inverse). */
export function toggle(m: Mix, r: Resource, sign: 1 | -1): void {
  m.a ^= r.mix[0]!;
  m.b ^= r.mix[1]!;
  m.c ^= r.mix[2]!;
  m.d ^= r.mix[3]!;
  m.n += sign;
}

/** The version string of a mix. */
export function mixVersion(m: Mix): string {
  return `${m.n.toString(16)}-${[m.a, m.b, m.c, m.d].map((x) => (x >>> 0).toString(16).padStart(8, '0')).join('')}`;
}

/**
 * The content version of a set of resources: order-independent (XOR of each resource's mix),
 * so it is computed in one pass without sorting 100,000 names, updated per changed resource,
 * and equal across replicas.
 */
export function combinedVersion(resources: Iterable<Resource>): string {
  return mixVersion(mixOf(resources));
}
