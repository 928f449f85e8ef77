/**
 * The control plane's Consul KV access: reads with ModifyIndex, check-and-set writes, and
 * session locks (https://developer.hashicorp.com/consul/docs/dynamic-app-config/sessions).
 * Plain HTTP against Consul's API so every CAS and `acquire` is explicit.
 */
import type { z } from 'zod';
import { decodeJson, encodeJson } from '../../shared/kv.js';

/** One key with its raw value, ModifyIndex and lock holder. */
export interface KvItem {
  key: string;
  value: string;
  modifyIndex: number;
  session?: string;
}

/** Options of {@link KvStore.put}. */
export interface PutOptions {
  /** Check-and-set: 0 = only create, N = only when ModifyIndex is N. */
  cas?: number;
  /** Take (or keep) the key's lock with this session. */
  acquire?: string;
  /** Release the key's lock held by this session. */
  release?: string;
}

interface RawItem {
  Key: string;
  Value: string | null;
  ModifyIndex: number;
  Session?: string;
}

/** A small Consul KV + session client. */
export class KvStore {
  readonly url: string;

  constructor(url: string) {
    this.url = url.replace(/\/$/, '');
  }

  private async call(method: string, path: string, body?: string): Promise<Response> {
    const res = await fetch(`${this.url}${path}`, { method, body, signal: AbortSignal.timeout(10_000) });
    if (!res.ok && res.status !== 404) {
      throw new Error(`consul ${method} ${path.split('?')[0]} failed: ${res.status} ${(await res.text()).slice(0, 200)}`);
    }
    return res;
  }

  /** The key, or undefined when absent. */
  async get(key: string): Promise<KvItem | undefined> {
    const res = await this.call('GET', `/v1/kv/${key}`);
    if (res.status === 404) return undefined;
    const [item] = (await res.json()) as RawItem[];
    return item ? toItem(item) : undefined;
  }

  /** Every key under `prefix`. */
  async list(prefix: string): Promise<KvItem[]> {
    const res = await this.call('GET', `/v1/kv/${prefix}?recurse=true`);
    if (res.status === 404) return [];
    return ((await res.json()) as RawItem[]).map(toItem);
  }

  /** Writes a value; false when a CAS or acquire condition failed. */
  async put(key: string, value: string, opts: PutOptions = {}): Promise<boolean> {
    const q = new URLSearchParams();
    if (opts.cas !== undefined) q.set('cas', String(opts.cas));
    if (opts.acquire) q.set('acquire', opts.acquire);
    if (opts.release) q.set('release', opts.release);
    const qs = q.toString();
    const res = await this.call('PUT', `/v1/kv/${key}${qs ? `?${qs}` : ''}`, value);
    return ((await res.json()) as boolean) === true;
  }

  /** Deletes a key (optionally CAS); false when the CAS failed. */
  async delete(key: string, cas?: number): Promise<boolean> {
    const res = await this.call('DELETE', `/v1/kv/${key}${cas !== undefined ? `?cas=${cas}` : ''}`);
    return res.status === 404 || ((await res.json()) as boolean) === true;
  }

  /** Reads and decodes a JSON value; undefined when absent, throws with every problem when invalid. */
  async getJson<T>(schema: z.ZodType<T>, key: string): Promise<{ value: T; item: KvItem } | undefined> {
    const item = await this.get(key);
    if (!item) return undefined;
    const d = decodeJson(schema, item.value);
    if (!d.ok) throw new Error(`invalid value at ${key}: ${d.problems.join('; ')}`);
    return { value: d.value, item };
  }

  /** Lists and decodes every value under a prefix; invalid values are returned apart. */
  async listJson<T>(
    schema: z.ZodType<T>,
    prefix: string,
  ): Promise<{ values: { key: string; value: T; item: KvItem }[]; invalid: string[] }> {
    const values: { key: string; value: T; item: KvItem }[] = [];
    const invalid: string[] = [];
    for (const item of await this.list(prefix)) {
      if (item.key.endsWith('/')) continue;
      const d = decodeJson(schema, item.value);
      if (d.ok) values.push({ key: item.key, value: d.value, item });
      else invalid.push(item.key);
    }
    return { values, invalid };
  }

  /** Encodes (schema-checked) and writes a JSON value. */
  async putJson<T>(schema: z.ZodType<T>, key: string, value: T, opts: PutOptions = {}): Promise<boolean> {
    return this.put(key, encodeJson(schema, value), opts);
  }

  /** Creates a session (behaviour `release`, so a dead holder leaves its record for recovery). */
  async createSession(name: string, ttl = '15s'): Promise<string> {
    const res = await this.call(
      'PUT',
      '/v1/session/create',
      JSON.stringify({ Name: name, TTL: ttl, Behavior: 'release', LockDelay: '0s' }),
    );
    return ((await res.json()) as { ID: string }).ID;
  }

  /** Renews a session; false when it no longer exists. */
  async renewSession(id: string): Promise<boolean> {
    const res = await this.call('PUT', `/v1/session/renew/${id}`);
    return res.status !== 404;
  }

  /** Destroys a session, releasing its locks. */
  async destroySession(id: string): Promise<void> {
    await this.call('PUT', `/v1/session/destroy/${id}`);
  }

  /** Every session with its name. */
  async listSessions(): Promise<{ id: string; name: string }[]> {
    const res = await this.call('GET', '/v1/session/list');
    return ((await res.json()) as { ID: string; Name: string }[]).map((s) => ({ id: s.ID, name: s.Name }));
  }
}

function toItem(raw: RawItem): KvItem {
  return {
    key: raw.Key,
    value: raw.Value === null ? '' : Buffer.from(raw.Value, 'base64').toString('utf8'),
    modifyIndex: raw.ModifyIndex,
    ...(raw.Session ? { session: raw.Session } : {}),
  };
}
