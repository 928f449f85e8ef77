/**
 * The one Consul client of cellsim. Every part reaches Consul through it: one options object
 * (URL, ACL token, transport), one place for the token and TLS, errors with stable codes
 * (errors.ts), answers checked before use.
 *
 * ```ts
 * const consul = new ConsulClient({ url: 'http://127.0.0.1:8500' });
 * const { index, value } = await consul.kv.list('cellsim/markets/', { index: last, wait: '30s' });
 * ```
 */
import { ConsulAcl } from './acl.js';
import { ConsulHttp, type ConsulClientOptions } from './http.js';
import { ConsulKv } from './kv.js';
import { ConsulAgent, ConsulCatalog, ConsulHealth, ConsulSessions, ConsulStatus } from './services.js';

export { accessorIdOf, type AclPolicy, type AclToken } from './acl.js';
export { ConsulError, CONSUL_ERROR_CODES, isConsulError, type ConsulErrorCode } from './errors.js';
export { durationMs, type CallOptions, type ConsulClientOptions, type QueryOptions, type QueryResult } from './http.js';
export { kvPairsOf, txnSet, type KvPair, type KvPutOptions, type KvStream, type KvStreamMode, type TxnKvOp, type TxnResult } from './kv.js';
export type { AgentService, CatalogService, HealthCheck, HealthEntry, ServiceDefinition, SessionOptions } from './services.js';
export { CONSUL_CA_FILE_ENV, consulCaFromEnv, followConsulCa, followedCaFromEnv, type ConsulCa, type ConsulCaOption } from './tls.js';
export { CONSUL_TOKEN_ENV, CONSUL_TOKEN_FILE_ENV, consulTokenFromEnv } from './token.js';
export { fetchTransport, type ConsulBody, type ConsulRequest, type ConsulResponse, type ConsulTransport } from './transport.js';

/** A Consul client: `kv` (with transactions), `session`, `health`, `catalog`, `agent`, `status`, `acl`. */
export class ConsulClient {
  /** The agent's base URL, without a trailing slash. */
  readonly url: string;
  readonly kv: ConsulKv;
  readonly session: ConsulSessions;
  readonly health: ConsulHealth;
  readonly catalog: ConsulCatalog;
  readonly agent: ConsulAgent;
  readonly status: ConsulStatus;
  readonly acl: ConsulAcl;

  constructor(o: ConsulClientOptions) {
    const http = new ConsulHttp(o);
    this.url = http.url;
    this.kv = new ConsulKv(http);
    this.session = new ConsulSessions(http);
    this.health = new ConsulHealth(http);
    this.catalog = new ConsulCatalog(http);
    this.agent = new ConsulAgent(http);
    this.status = new ConsulStatus(http);
    this.acl = new ConsulAcl(http);
  }
}
