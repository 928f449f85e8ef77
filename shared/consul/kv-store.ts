/**
 * The operators' view of Consul KV (migrations, rollouts, evacuations, audit): reads with their
 * ModifyIndex, check-and-set writes, JSON values checked by the shared zod codecs, and the
 * session locks of docs/contracts.md §Consul keys (https://developer.hashicorp.com/consul/docs/dynamic-app-config/sessions).
 * Every CAS and `acquire` stays explicit at the call site. Built on the one Consul client.
 */
import type { z } from 'zod';
import { decodeJson, encodeJson } from '../kv.js';
import { ConsulClient } from './client.js';

/** One key with its raw value ('' when stored without one), ModifyIndex and lock holder. */
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

/** Consul KV and sessions for operator workflows. */
export class KvStore {
  /** The Consul client underneath. */
  readonly consul: ConsulClient;
  /** Consul's base URL. */
  readonly url: string;

  /** A store on `consul` (a client, or a URL for a client with default options). */
  constructor(consul: ConsulClient | string) {
    this.consul = typeof consul === 'string' ? new ConsulClient({ url: consul }) : consul;
    this.url = this.consul.url;
  }

  /** The key, or undefined when absent. */
  async get(key: string): Promise<KvItem | undefined> {
    const { value } = await this.consul.kv.get(key);
    return value ? toItem(value) : undefined;
  }

  /** Every key under `prefix`. */
  async list(prefix: string): Promise<KvItem[]> {
    return (await this.consul.kv.list(prefix)).value.map(toItem);
  }

  /** Writes a value; false when a CAS or acquire condition failed. */
  async put(key: string, value: string, opts: PutOptions = {}): Promise<boolean> {
    return this.consul.kv.put(key, value, opts);
  }

  /** Deletes a key (optionally CAS); false when the CAS failed. */
  async delete(key: string, cas?: number): Promise<boolean> {
    return this.consul.kv.delete(key, { cas });
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
    return this.consul.session.create({ name, ttl, behavior: 'release', lockDelay: '0s' });
  }

  /** Renews a session; false when it no longer exists. */
  async renewSession(id: string): Promise<boolean> {
    return this.consul.session.renew(id);
  }

  /** Destroys a session, releasing its locks. */
  async destroySession(id: string): Promise<void> {
    await this.consul.session.destroy(id);
  }

  /** Every session with its name. */
  async listSessions(): Promise<{ id: string; name: string }[]> {
    return this.consul.session.list();
  }
}

function toItem(p: { key: string; value: string | null; modifyIndex: number; session?: string }): KvItem {
  return { key: p.key, value: p.value ?? '', modifyIndex: p.modifyIndex, ...(p.session ? { session: p.session } : {}) };
}
