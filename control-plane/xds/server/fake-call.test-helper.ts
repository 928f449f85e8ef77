/**
 * Test doubles for the ADS stream code without gRPC, Consul or Envoy: a fake duplex call, a
 * stream context over a real cache, status store and metrics, and snapshots from plain names.
 */
import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import { createLogger } from '../../../shared/logger.js';
import { SnapshotCache } from '../cache/snapshot-cache.js';
import { Snapshot } from '../cache/snapshot.js';
import { StatusStore } from '../cache/status.js';
import { XdsMetrics } from '../metrics.js';
import { fromAny, type Resource } from '../resources/resource.js';
import type { TypeUrl } from '../resources/type-urls.js';
import type { StreamContext } from './context.js';
import type { AdsCall } from './lifecycle.js';

/** A duplex call: requests are emitted with `send`, responses collected in `written`. */
export class FakeCall<Req, Res> extends EventEmitter implements AdsCall<Req, Res> {
  readonly written: Res[] = [];
  ends = 0;
  destroyed: Error | undefined;
  write(res: Res): boolean {
    this.written.push(res);
    return true;
  }
  end(): void {
    this.ends += 1;
  }
  destroy(err?: Error): void {
    this.destroyed = err;
  }
  send(req: Req): void {
    this.emit('data', req);
  }
  /** The responses written since the last call. */
  take(): Res[] {
    return this.written.splice(0);
  }
}

/** A stream context (silent log, fresh metrics registry) and the ids of the nodes it was told of. */
export function fakeContext(maxDeltaResources = 10): StreamContext & { nodes: string[] } {
  const log = createLogger('test');
  log.level = 'silent';
  const nodes: string[] = [];
  return {
    cache: new SnapshotCache(),
    status: new StatusStore(),
    metrics: new XdsMetrics(new Registry()),
    log,
    identifier: 'cp-test',
    onNode: (n) => nodes.push(n.id),
    maxDeltaResources,
    nodes,
  };
}

/** The sum of a metric's values (those named `name` only, when given). */
export async function metricSum(
  m: { get(): Promise<{ values: { value: number; metricName?: string }[] }> },
  name?: string,
): Promise<number> {
  return (await m.get()).values.filter((v) => name === undefined || v.metricName === name).reduce((s, v) => s + v.value, 0);
}

/** A snapshot from names per type; a resource's bytes are its name and `tag` (change the tag, change the version). */
export function snapshotOf(types: Partial<Record<TypeUrl, string[]>>, tag = ''): Snapshot {
  const m = new Map<TypeUrl, Map<string, Resource>>();
  for (const [type, names] of Object.entries(types) as [TypeUrl, string[]][])
    m.set(type, new Map(names.map((n) => [n, fromAny(type, n, { type_url: type, value: Buffer.from(n + tag) })])));
  return new Snapshot(m);
}
