/**
 * Consul's KV store and transactions (https://developer.hashicorp.com/consul/api-docs/kv,
 * https://developer.hashicorp.com/consul/api-docs/txn): reads with their ModifyIndex, blocking
 * reads, check-and-set and lock writes, and a streamed listing for followers of big prefixes.
 */
import { z } from 'zod';
import { ConsulError } from './errors.js';
import type { Answer, CallOptions, ConsulHttp, QueryOptions, QueryResult } from './http.js';

/** One key: its value (null when stored without one), ModifyIndex and lock holder. */
export interface KvPair {
  key: string;
  value: string | null;
  modifyIndex: number;
  /** The session holding the key's lock. */
  session?: string;
}

/** Options of {@link ConsulKv.put}. */
export interface KvPutOptions extends CallOptions {
  /** Check-and-set: 0 = only create, N = only when ModifyIndex is N. */
  cas?: number;
  /** Take (or keep) the key's lock with this session. */
  acquire?: string;
  /** Release the key's lock held by this session. */
  release?: string;
}

/** What a streamed listing reads: values of every key under the prefix, only the keys, or one key. */
export type KvStreamMode = 'recurse' | 'keys' | 'exact';

/** A listing whose body is still to be read: status 404 means no key (the body is Consul's empty answer). */
export interface KvStream extends Answer {
  status: 200 | 404;
}

/** One KV operation of a transaction, in Consul's JSON shape (Value base64; see {@link txnSet}). */
export interface TxnKvOp {
  KV: {
    Verb:
      | 'set'
      | 'cas'
      | 'lock'
      | 'unlock'
      | 'get'
      | 'get-tree'
      | 'check-index'
      | 'check-session'
      | 'check-not-exists'
      | 'delete'
      | 'delete-tree'
      | 'delete-cas';
    Key: string;
    Value?: string;
    Index?: number;
    Session?: string;
  };
}

/** A transaction's answer: the keys it read or wrote, or why it was rolled back (nothing applied). */
export interface TxnResult {
  ok: boolean;
  results: KvPair[];
  errors: { opIndex: number; what: string }[];
}

/** A `set` operation of `key` to `value` (text, encoded here). */
export function txnSet(key: string, value: string): TxnKvOp {
  return { KV: { Verb: 'set', Key: key, Value: Buffer.from(value).toString('base64') } };
}

/**
 * Checks a KV listing item by hand: a listing can hold 100,000 of them, where a schema library
 * costs a multiple of the parse itself.
 */
function toPair(raw: unknown, what: string): KvPair {
  const r = raw as { Key?: unknown; Value?: unknown; ModifyIndex?: unknown; Session?: unknown } | null;
  if (
    typeof r !== 'object' ||
    r === null ||
    typeof r.Key !== 'string' ||
    typeof r.ModifyIndex !== 'number' ||
    (r.Value !== null && r.Value !== undefined && typeof r.Value !== 'string')
  ) {
    throw new ConsulError('consul_invalid_answer', `${what}: unexpected KV item: ${JSON.stringify(raw)?.slice(0, 200)}`);
  }
  const value = typeof r.Value === 'string' ? Buffer.from(r.Value, 'base64').toString('utf8') : null;
  return { key: r.Key, value, modifyIndex: r.ModifyIndex, ...(typeof r.Session === 'string' && r.Session ? { session: r.Session } : {}) };
}

/** The KV items of an answer read as text (a streamed single-key read, say); `consul_invalid_answer` when it is not one. */
export function kvPairsOf(text: string, what: string): KvPair[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ConsulError('consul_invalid_answer', `${what}: not JSON: ${text.slice(0, 200)}`);
  }
  return toPairs(raw, what);
}

function toPairs(raw: unknown, what: string): KvPair[] {
  if (raw === null) return [];
  if (!Array.isArray(raw)) throw new ConsulError('consul_invalid_answer', `${what}: expected a list of KV items`);
  return raw.map((r) => toPair(r, what));
}

const TxnAnswerSchema = z.object({
  Results: z.array(z.object({ KV: z.unknown().optional() })).nullish(),
  Errors: z.array(z.object({ OpIndex: z.number(), What: z.string() })).nullish(),
});

/** Keys are sent as they are, each segment escaped. */
const keyPath = (key: string) => `/v1/kv/${key.split('/').map(encodeURIComponent).join('/')}`;

/** The KV part of the client. */
export class ConsulKv {
  constructor(private readonly http: ConsulHttp) {}

  /** One key, or undefined when absent; blocks with `index`. */
  async get(key: string, o: QueryOptions = {}): Promise<QueryResult<KvPair | undefined>> {
    const a = await this.http.send('GET', keyPath(key), { ...o, accept: [404] });
    if (a.status === 404) {
      await a.body.dump();
      return { index: a.index, value: undefined };
    }
    const [pair] = toPairs(await this.http.json(a, `GET ${key}`), `GET ${key}`);
    return { index: a.index, value: pair };
  }

  /** Every key under `prefix` with its value ([] when none); blocks with `index`. */
  async list(prefix: string, o: QueryOptions = {}): Promise<QueryResult<KvPair[]>> {
    const a = await this.http.send('GET', keyPath(prefix), { ...o, query: { recurse: true }, accept: [404] });
    if (a.status === 404) {
      await a.body.dump();
      return { index: a.index, value: [] };
    }
    return { index: a.index, value: toPairs(await this.http.json(a, `list ${prefix}`), `list ${prefix}`) };
  }

  /** Every key under `prefix`, without values ([] when none); blocks with `index`. */
  async keys(prefix: string, o: QueryOptions = {}): Promise<QueryResult<string[]>> {
    const a = await this.http.send('GET', keyPath(prefix), { ...o, query: { keys: true }, accept: [404] });
    if (a.status === 404) {
      await a.body.dump();
      return { index: a.index, value: [] };
    }
    const v = await this.http.json(a, `keys ${prefix}`);
    if (!Array.isArray(v) || !v.every((k) => typeof k === 'string'))
      throw new ConsulError('consul_invalid_answer', `keys ${prefix}: expected a list of keys`);
    return { index: a.index, value: v };
  }

  /**
   * A listing whose body the caller streams (recurse: the JSON array of KV items; keys: the JSON
   * array of keys; exact: the one key). For followers of prefixes too big to hold as one string.
   */
  stream(prefix: string, mode: KvStreamMode, o: QueryOptions & { bodyTimeoutMs?: number } = {}): Promise<KvStream> {
    const query = mode === 'recurse' ? { recurse: true } : mode === 'keys' ? { keys: true } : {};
    return this.http.send('GET', keyPath(prefix), { ...o, query, accept: [404] }) as Promise<KvStream>;
  }

  /** Writes a value; false when a CAS or lock condition failed. */
  async put(key: string, value: string, o: KvPutOptions = {}): Promise<boolean> {
    const query = { cas: o.cas, acquire: o.acquire || undefined, release: o.release || undefined };
    const a = await this.http.send('PUT', keyPath(key), { ...o, query, body: value });
    return (await this.http.json(a, `PUT ${key}`)) === true;
  }

  /** Deletes a key (or, with `recurse`, every key under it); false when the CAS failed. An absent key counts as deleted. */
  async delete(key: string, o: CallOptions & { cas?: number; recurse?: boolean } = {}): Promise<boolean> {
    const a = await this.http.send('DELETE', keyPath(key), { ...o, query: { cas: o.cas, recurse: o.recurse }, accept: [404] });
    if (a.status === 404) {
      await a.body.dump();
      return true;
    }
    return (await this.http.json(a, `DELETE ${key}`)) === true;
  }

  /** Runs up to 64 operations atomically; a rolled-back transaction answers `ok: false` with its errors. */
  async txn(ops: readonly TxnKvOp[], o: CallOptions = {}): Promise<TxnResult> {
    const a = await this.http.send('PUT', '/v1/txn', { ...o, body: JSON.stringify(ops), accept: [409] });
    const v = await this.http.parse(a, TxnAnswerSchema, 'txn');
    return {
      ok: a.status !== 409,
      results: (v.Results ?? []).filter((r) => r.KV != null).map((r) => toPair(r.KV, 'txn')),
      errors: (v.Errors ?? []).map((e) => ({ opIndex: e.OpIndex, what: e.What })),
    };
  }
}
