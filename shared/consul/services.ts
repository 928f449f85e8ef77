/**
 * Consul's sessions, health, catalog, agent and status endpoints
 * (https://developer.hashicorp.com/consul/api-docs), with their answers checked by zod.
 */
import { z } from 'zod';
import type { CallOptions, ConsulHttp, QueryOptions, QueryResult } from './http.js';

const ServiceSchema = z.object({
  ID: z.string(),
  Service: z.string(),
  Address: z.string(),
  Port: z.number(),
  Meta: z.record(z.string()).nullish(),
  Tags: z.array(z.string()).nullish(),
});

const CheckSchema = z.object({
  CheckID: z.string(),
  Name: z.string(),
  Status: z.string(),
  /** '' for a check of the node itself. */
  ServiceID: z.string(),
  ServiceName: z.string(),
  Output: z.string(),
});

const HealthEntrySchema = z.object({
  Node: z.object({ Node: z.string(), Address: z.string() }),
  Service: ServiceSchema,
  Checks: z.array(CheckSchema),
});

/** One instance of `GET /v1/health/service/<name>`: its node, its service record and its checks. */
export type HealthEntry = z.infer<typeof HealthEntrySchema>;
/** One health check. */
export type HealthCheck = z.infer<typeof CheckSchema>;
/** A service as the agent holds it. */
export type AgentService = z.infer<typeof ServiceSchema>;

const CatalogServiceSchema = z.object({
  Node: z.string(),
  Address: z.string(),
  ServiceID: z.string(),
  ServiceName: z.string(),
  ServiceAddress: z.string(),
  ServicePort: z.number(),
  ServiceMeta: z.record(z.string()).nullish(),
});
/** One instance of `GET /v1/catalog/service/<name>`. */
export type CatalogService = z.infer<typeof CatalogServiceSchema>;

const SessionSchema = z.object({ ID: z.string(), Name: z.string().nullish() });

/** A service registration (`PUT /v1/agent/service/register`), in Consul's JSON shape. */
export interface ServiceDefinition {
  ID: string;
  Name: string;
  Address?: string;
  Port?: number;
  Meta?: Record<string, string>;
  Tags?: string[];
  Check?: {
    HTTP?: string;
    TTL?: string;
    Interval?: string;
    Timeout?: string;
    DeregisterCriticalServiceAfter?: string;
    /** An HTTPS check does not verify the server's certificate. */
    TLSSkipVerify?: boolean;
    /** The check's status until it first runs. */
    Status?: 'passing' | 'warning' | 'critical';
  };
}

/** Options of {@link ConsulSessions.create}. */
export interface SessionOptions {
  name: string;
  /** Consul duration, 10s–24h. */
  ttl?: string;
  /** What happens to the session's locks when it is invalidated (default `release`). */
  behavior?: 'release' | 'delete';
  /** Consul duration (Consul's default 15s). */
  lockDelay?: string;
}

const id = (s: string) => encodeURIComponent(s);

/** Sessions (https://developer.hashicorp.com/consul/docs/dynamic-app-config/sessions). */
export class ConsulSessions {
  constructor(private readonly http: ConsulHttp) {}

  /** Creates a session; answers its ID. */
  async create(s: SessionOptions, o: CallOptions = {}): Promise<string> {
    const body = JSON.stringify({ Name: s.name, TTL: s.ttl, Behavior: s.behavior ?? 'release', LockDelay: s.lockDelay });
    const a = await this.http.send('PUT', '/v1/session/create', { ...o, body });
    return (await this.http.parse(a, z.object({ ID: z.string() }), 'session create')).ID;
  }

  /** Renews a session; false when it no longer exists. */
  async renew(sessionId: string, o: CallOptions = {}): Promise<boolean> {
    const a = await this.http.send('PUT', `/v1/session/renew/${id(sessionId)}`, { ...o, accept: [404] });
    await a.body.dump();
    return a.status !== 404;
  }

  /** Destroys a session, releasing (or deleting) its locks. */
  async destroy(sessionId: string, o: CallOptions = {}): Promise<void> {
    await (await this.http.send('PUT', `/v1/session/destroy/${id(sessionId)}`, o)).body.dump();
  }

  /** Every session with its name. */
  async list(o: CallOptions = {}): Promise<{ id: string; name: string }[]> {
    const a = await this.http.send('GET', '/v1/session/list', o);
    return ((await this.http.parse(a, z.array(SessionSchema).nullable(), 'session list')) ?? []).map((s) => ({
      id: s.ID,
      name: s.Name ?? '',
    }));
  }
}

/** Health of services and their checks. */
export class ConsulHealth {
  constructor(private readonly http: ConsulHttp) {}

  /** Every instance of `service` (only those whose checks all pass, with `passing`); blocks with `index`. */
  async service(service: string, o: QueryOptions & { passing?: boolean } = {}): Promise<QueryResult<HealthEntry[]>> {
    const a = await this.http.send('GET', `/v1/health/service/${id(service)}`, { ...o, query: { passing: o.passing } });
    return { index: a.index, value: (await this.http.parse(a, z.array(HealthEntrySchema).nullable(), `health ${service}`)) ?? [] };
  }

  /** Every check of every instance of `service`. */
  async checks(service: string, o: QueryOptions = {}): Promise<QueryResult<HealthCheck[]>> {
    const a = await this.http.send('GET', `/v1/health/checks/${id(service)}`, o);
    return { index: a.index, value: (await this.http.parse(a, z.array(CheckSchema).nullable(), `checks ${service}`)) ?? [] };
  }
}

/** The catalog: every service known to the cluster. */
export class ConsulCatalog {
  constructor(private readonly http: ConsulHttp) {}

  /** Service name → tags. */
  async services(o: QueryOptions = {}): Promise<QueryResult<Record<string, string[]>>> {
    const a = await this.http.send('GET', '/v1/catalog/services', o);
    return { index: a.index, value: await this.http.parse(a, z.record(z.array(z.string())), 'catalog services') };
  }

  /** Every registered instance of `service`, whatever its health. */
  async service(service: string, o: QueryOptions = {}): Promise<QueryResult<CatalogService[]>> {
    const a = await this.http.send('GET', `/v1/catalog/service/${id(service)}`, o);
    return { index: a.index, value: (await this.http.parse(a, z.array(CatalogServiceSchema).nullable(), `catalog ${service}`)) ?? [] };
  }
}

/** The local agent: registering this process's services and updating their TTL checks. */
export class ConsulAgent {
  constructor(private readonly http: ConsulHttp) {}

  /** Registers (or replaces) a service with its check. */
  async register(def: ServiceDefinition, o: CallOptions = {}): Promise<void> {
    await (await this.http.send('PUT', '/v1/agent/service/register', { ...o, body: JSON.stringify(def) })).body.dump();
  }

  /** Deregisters a service. */
  async deregister(serviceId: string, o: CallOptions = {}): Promise<void> {
    await (await this.http.send('PUT', `/v1/agent/service/deregister/${id(serviceId)}`, o)).body.dump();
  }

  /** The agent's record of one service; undefined when the agent does not know it. */
  async service(serviceId: string, o: CallOptions = {}): Promise<AgentService | undefined> {
    const a = await this.http.send('GET', `/v1/agent/service/${id(serviceId)}`, { ...o, accept: [404] });
    if (a.status === 404) {
      await a.body.dump();
      return undefined;
    }
    return this.http.parse(a, ServiceSchema, `agent service ${serviceId}`);
  }

  /** Every service registered with this agent, by ID. */
  async services(o: CallOptions = {}): Promise<Record<string, AgentService>> {
    const a = await this.http.send('GET', '/v1/agent/services', o);
    return this.http.parse(a, z.record(ServiceSchema), 'agent services');
  }

  /**
   * Forces member `node` out of the cluster (`/v1/agent/force-leave`, operator write); with
   * `prune`, also off the members list, where a node that left stays for 72 h otherwise.
   */
  async forceLeave(node: string, o: CallOptions & { prune?: boolean } = {}): Promise<void> {
    await (await this.http.send('PUT', `/v1/agent/force-leave/${id(node)}`, { ...o, query: { prune: o.prune } })).body.dump();
  }

  /**
   * Asks this agent to join the cluster through the member at `address` (`ip:port` of its Serf
   * LAN port; `/v1/agent/join`, agent write): a push-pull of their member lists, as `-retry-join`
   * does at the agent's start.
   */
  async join(address: string, o: CallOptions = {}): Promise<void> {
    await (await this.http.send('PUT', `/v1/agent/join/${id(address)}`, o)).body.dump();
  }

  /**
   * Reloads the agent's configuration (`PUT /v1/agent/reload`, what `consul reload` sends; agent
   * write): its TLS files (`ca_file`, `cert_file`, `key_file`) among them, taken for new
   * connections. Answers once the agent has reloaded; a reload it refuses is `consul_http`.
   */
  async reload(o: CallOptions = {}): Promise<void> {
    await (await this.http.send('PUT', '/v1/agent/reload', o)).body.dump();
  }

  /** Sets a TTL check's status (and output). */
  async updateCheck(checkId: string, status: 'passing' | 'warning' | 'critical', output = '', o: CallOptions = {}): Promise<void> {
    const body = JSON.stringify({ Status: status, Output: output });
    await (await this.http.send('PUT', `/v1/agent/check/update/${id(checkId)}`, { ...o, body })).body.dump();
  }
}

/** The cluster's status. */
export class ConsulStatus {
  constructor(private readonly http: ConsulHttp) {}

  /** The Raft leader's address; '' while there is none. */
  async leader(o: CallOptions = {}): Promise<string> {
    const a = await this.http.send('GET', '/v1/status/leader', o);
    return this.http.parse(a, z.string(), 'status leader');
  }

  /** The addresses (`ip:port`) of the servers in the Raft configuration. */
  async peers(o: CallOptions = {}): Promise<string[]> {
    const a = await this.http.send('GET', '/v1/status/peers', o);
    return this.http.parse(a, z.array(z.string()), 'status peers');
  }
}
