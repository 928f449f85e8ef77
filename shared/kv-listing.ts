/**
 * One read of a KV prefix streamed chunk by chunk into its {@link KvPrefixDiff} (never held as
 * one string). When the diff's fast path cannot decide (a deletion, an index reset) the prefix is
 * read again at once in full mode; text the scanner cannot read falls back to JSON.parse.
 */
import { StringDecoder } from 'node:string_decoder';
import type { ConsulClient } from './consul/client.js';
import { ConsulError } from './consul/errors.js';
import type { KvDiff, KvPrefixDiff, ListingReader, RawKvItem } from './kv-diff.js';

/** One listing's diff and what reading it cost. */
export interface KvListing<T> {
  diff: KvDiff<T>;
  /** The answer's X-Consul-Index. */
  index: number;
  /** Bytes of the answer (and of the full re-read, when there was one). */
  bytes: number;
  /** Answer headers to last byte (the blocking wait excluded), ms. */
  fetchMs: number;
  /** Scan, diff and validation, ms. */
  diffMs: number;
  /** When the answer arrived (epoch ms). */
  receivedAt: number;
}

/** Options of {@link readKvListing}. */
export interface KvListingOptions {
  /** Block until the prefix moves past this index (0: answer at once). */
  index: number;
  wait: string;
  signal?: AbortSignal;
  /** Until the answer's headers (default: the client's, from the wait for a blocking read). */
  timeoutMs?: number;
  /** Read the one key `prefix` rather than every key under it. */
  exact?: boolean;
}

/** Feeds a streamed body into a listing reader; its size and the reader's time. */
export async function streamInto<T>(body: AsyncIterable<Uint8Array>, reader: ListingReader<T>): Promise<{ bytes: number; ms: number }> {
  const dec = new StringDecoder('utf8');
  let bytes = 0;
  let ms = 0;
  for await (const chunk of body) {
    bytes += chunk.length;
    const t = performance.now();
    reader.push(dec.write(chunk));
    ms += performance.now() - t;
  }
  reader.push(dec.end());
  return { bytes, ms };
}

/** Reads `prefix` (blocking from `o.index`) into `prefixDiff`; see the module comment. */
export async function readKvListing<T>(
  consul: ConsulClient,
  prefixDiff: KvPrefixDiff<T>,
  prefix: string,
  o: KvListingOptions,
): Promise<KvListing<T>> {
  const mode = o.exact ? 'exact' : 'recurse';
  const res = await consul.kv.stream(prefix, mode, { index: o.index, wait: o.wait, signal: o.signal, timeoutMs: o.timeoutMs });
  const t0 = performance.now(); // the answer started: the blocking wait is not part of its cost
  const index = res.index;
  let bytes: number;
  let diffMs: number;
  let diff: KvDiff<T> | undefined;
  if (res.status === 404) {
    await res.body.dump();
    // An empty prefix at an index below a ModifyIndex already held is no deletion (that would
    // have moved the index past it) but a Consul that lost its data: keep the last good records
    // (the caller reports the error and stays degraded) until the prefix is written again.
    if (prefixDiff.size > 0 && index < prefixDiff.highestModifyIndex) {
      throw new ConsulError(
        'consul_invalid_answer',
        `consul answered ${prefix} empty at index ${index}, below records held at index ${prefixDiff.highestModifyIndex}: Consul lost its data? the last good records stay until the prefix is written again (or Consul's index passes theirs)`,
      );
    }
    const t = performance.now();
    diff = prefixDiff.applyText('[]', index);
    bytes = 0;
    diffMs = performance.now() - t;
  } else {
    const reader = prefixDiff.reader(index);
    ({ bytes, ms: diffMs } = await streamInto(res.body, reader));
    diff = reader.end();
    if (diff === undefined) {
      const again = await consul.kv.stream(prefix, mode, { signal: o.signal, timeoutMs: 30_000 });
      const full = prefixDiff.reader(index, 'full');
      const r = await streamInto(again.body, full);
      bytes += r.bytes;
      diffMs += r.ms;
      diff = full.end();
      if (diff === undefined) {
        const last = await consul.kv.stream(prefix, mode, { signal: o.signal, timeoutMs: 30_000 });
        diff = prefixDiff.apply(JSON.parse(await last.body.text()) as RawKvItem[], index);
      }
    }
  }
  return { diff, index, bytes, fetchMs: performance.now() - t0, diffMs, receivedAt: Date.now() };
}
