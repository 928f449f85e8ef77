/**
 * Consul's ACL endpoints (https://developer.hashicorp.com/consul/api-docs/acl): policies and
 * tokens, made or brought up to date idempotently, so a topology can (re)apply its ACL setup at
 * every start. Needs a token with `acl = "write"` (the management token).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ConsulError } from './errors.js';
import type { CallOptions, ConsulHttp } from './http.js';

const PolicySchema = z.object({ ID: z.string(), Name: z.string(), Description: z.string().nullish(), Rules: z.string().nullish() });
const TokenSchema = z.object({
  AccessorID: z.string(),
  Description: z.string().nullish(),
  Policies: z.array(z.object({ ID: z.string(), Name: z.string() })).nullish(),
});

/** A policy: its name and its rules (Consul's HCL rule language). */
export interface AclPolicy {
  name: string;
  rules: string;
  description?: string;
}

/** A token with a secret the caller chose (a UUID) and the names of its policies. */
export interface AclToken {
  secretId: string;
  description: string;
  policies: string[];
}

const id = (s: string) => encodeURIComponent(s);

/**
 * The accessor ID of the token whose secret is `secretId`: a UUID-shaped SHA-256 of the secret,
 * so a token is found again from its secret alone (the hash does not reveal the secret).
 */
export function accessorIdOf(secretId: string): string {
  const h = createHash('sha256').update(`cellsim-acl-accessor:${secretId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** ACL policies and tokens. */
export class ConsulAcl {
  constructor(private readonly http: ConsulHttp) {}

  /** Creates the policy, or updates its rules and description when they differ; answers its ID. */
  async upsertPolicy(p: AclPolicy, o: CallOptions = {}): Promise<string> {
    const what = `acl policy ${p.name}`;
    const found = await this.http.send('GET', `/v1/acl/policy/name/${id(p.name)}`, { ...o, accept: [404] });
    const body = { Name: p.name, Description: p.description ?? '', Rules: p.rules };
    if (found.status === 404) {
      await found.body.dump();
      const made = await this.http.send('PUT', '/v1/acl/policy', { ...o, body: JSON.stringify(body) });
      return (await this.http.parse(made, PolicySchema, what)).ID;
    }
    const cur = await this.http.parse(found, PolicySchema, what);
    if ((cur.Rules ?? '') === body.Rules && (cur.Description ?? '') === body.Description) return cur.ID;
    const put = await this.http.send('PUT', `/v1/acl/policy/${id(cur.ID)}`, { ...o, body: JSON.stringify({ ID: cur.ID, ...body }) });
    return (await this.http.parse(put, PolicySchema, what)).ID;
  }

  /**
   * Creates the token with this secret (and the accessor {@link accessorIdOf} derives from it),
   * or sets its description and policies when it exists; answers its accessor ID.
   */
  async upsertToken(t: AclToken, o: CallOptions = {}): Promise<string> {
    const accessor = accessorIdOf(t.secretId);
    const what = `acl token ${t.description}`;
    const body = { AccessorID: accessor, Description: t.description, Policies: t.policies.map((Name) => ({ Name })) };
    // A token that does not exist is 403 "token does not exist: ACL not found" (404 in some versions).
    const found = await this.http.send('GET', `/v1/acl/token/${id(accessor)}`, { ...o, accept: [403, 404] });
    if (found.status === 403) {
      const text = await this.http.text(found, what);
      if (!/does not exist/.test(text))
        throw new ConsulError('consul_http', `consul GET /v1/acl/token failed: 403 ${text.slice(0, 200)}`, { status: 403 });
    }
    if (found.status !== 200) {
      if (found.status === 404) await found.body.dump();
      const made = await this.http.send('PUT', '/v1/acl/token', { ...o, body: JSON.stringify({ ...body, SecretID: t.secretId }) });
      return (await this.http.parse(made, TokenSchema, what)).AccessorID;
    }
    const cur = await this.http.parse(found, TokenSchema, what);
    const names = (cur.Policies ?? []).map((p) => p.Name).sort();
    if (cur.Description === t.description && names.join() === [...t.policies].sort().join()) return accessor;
    const put = await this.http.send('PUT', `/v1/acl/token/${id(accessor)}`, { ...o, body: JSON.stringify(body) });
    return (await this.http.parse(put, TokenSchema, what)).AccessorID;
  }

  /** The policy names of the client's own token (`GET /v1/acl/token/self`). */
  async self(o: CallOptions = {}): Promise<{ accessorId: string; policies: string[] }> {
    const a = await this.http.send('GET', '/v1/acl/token/self', o);
    const t = await this.http.parse(a, TokenSchema, 'acl token self');
    return { accessorId: t.AccessorID, policies: (t.Policies ?? []).map((p) => p.Name) };
  }
}
