/** What the router's hono app (router/server.ts and its pieces here) needs, and its hono environment. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from '../../shared/logger.js';
import type { HoldQueue } from '../hold/index.js';
import type { Isolation } from '../isolation/index.js';
import type { RouterMetrics } from '../metrics.js';
import type { Proxy } from '../proxy/index.js';
import type { Resolver } from '../table/resolver.js';
import type { TableStatus } from '../table/source.js';
import type { MarketSending, MarketView } from './market-view.js';

/** What the app needs; built once by router/main.ts. */
export interface RouterDeps {
  id: string;
  resolver: Resolver;
  /** `ready` (router/table/source.ts): false until a complete table is loaded; /v1 requests wait for it. */
  table: { status(): TableStatus; readonly ready?: boolean };
  /** How long a /v1 request arriving before the table is loaded waits for it, ms [5000]. */
  readyHoldMs?: number;
  proxy: Proxy;
  isolation: Isolation;
  hold: HoldQueue;
  registry: Registry;
  /** With --workers n: every worker's metrics, aggregated (cluster-metrics.ts); else this registry's. */
  clusterMetrics?: () => Promise<string>;
  metrics: RouterMetrics;
  logger: Logger;
  /** True while the process drains for shutdown (/readyz then answers 503). */
  draining?: () => boolean;
  /** Each market's requests routed to a cell and not answered yet (`GET /route`, market-view.ts). */
  sending?: MarketSending;
  /** With --workers n: every worker's view of a market (cluster-views.ts); else this process's. */
  marketViews?: (market: string) => Promise<MarketView[]>;
  /** The token `GET /route` asks for (the routers' `router-admin` token); none: /route answers 401 to everyone. */
  routeViewToken?: string;
}

/** Under @hono/node-server, node's own request and response; absent under app.request(). */
export type Env = { Bindings: { incoming?: IncomingMessage; outgoing?: ServerResponse } };
