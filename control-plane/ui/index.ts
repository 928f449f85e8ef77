/**
 * The operator console at `/ui/` (docs/console.md): login with an admin API token into an
 * HttpOnly, SameSite=Strict session cookie; server-rendered pages (hono's html templates);
 * live regions over server-sent events from one shared poll ({@link Feed}); every action
 * forwarded to the admin API of the same process with the session's token, so the API's scope
 * check (403 for a read token), validation, dry run and audit record apply unchanged.
 */
import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { KvStore } from '../../shared/consul/kv-store.js';
import type { ConsulClient } from '../../shared/consul/client.js';
import { errorBody } from '../../shared/errors.js';
import { AuditRecordSchema, type AuditRecord, type KvLayout } from '../../shared/kv.js';
import type { Logger } from '../../shared/logger.js';
import type { NamedToken } from '../../shared/tokens.js';
import type { Migrator } from '../migration/migrator.js';
import type { RolloutManager } from '../rollout/manager.js';
import { Feed } from './feed.js';
import { MarketPager } from './market-page.js';
import { auditBody } from './pages/audit.js';
import { loginPage, page } from './pages/layout.js';
import { operationsBody, overviewBody } from './pages/live.js';
import { marketsBody } from './pages/markets.js';
import { REGIONS } from './pages/regions.js';
import { PlaneScraper } from './rates.js';
import { envoyAdmins } from './envoys.js';
import { HeatScraper } from './heat.js';
import { listReports, readReport } from './reports.js';
import { SessionStore, type ConsoleSession } from './sessions.js';
import { readSnapshot, type ConsoleEdge, type Snapshot } from './snapshot.js';
import { loadStatic } from './static.js';
import { peerClient, type PeerClient } from '../../shared/pki/client.js';

/** What the console is built from (control-plane/main.ts passes its own parts). */
export interface ConsoleDeps {
  /** The `/admin` app: every action and the audit read go through it. */
  admin: Hono;
  tokens: readonly NamedToken[];
  consul: ConsulClient;
  /** The KV store the live state is read from (default: one on `consul`). */
  kv?: Pick<KvStore, 'listJson' | 'getJson' | 'consul'>;
  layout: KvLayout;
  edge: ConsoleEdge;
  migrator: Migrator;
  rollouts: RolloutManager;
  log: Logger;
  /** Where drill reports are (default `./reports`). */
  reportsDir?: string;
  /** The topology data directory (`--data`): its `topology.json` names the Envoys' admin listeners. */
  dataDir?: string;
  /** Pause between polls while a console is open, ms [1,000]. */
  pollMs?: number;
  /** How cells' and routers' /metrics are scraped (default: plain HTTP; HTTPS with a client certificate under TLS). */
  peers?: PeerClient;
}

/** How old a poll a page may start from (the live regions are sent again at once by /ui/events). */
const PAGE_MAX_AGE_MS = 5000;

/** The mounted console. */
export interface Console {
  routes: Hono;
  feed: Feed;
  close(): void;
}

/** Headers of every console answer: no framing, no sniffing, scripts and styles from /ui/static only. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

/** Builds the console's routes, every one under `/ui/` (mounted at the root: hono's `/ui` mount would not match `/ui/`). */
export function createConsole(d: ConsoleDeps): Console {
  const sessions = new SessionStore(d.tokens);
  const kv = d.kv ?? new KvStore(d.consul);
  const peers = d.peers ?? peerClient(undefined, ['cell', 'router']);
  const scrape = (url: string) => peers.text(url, 1000);
  const traffic = {
    router: new PlaneScraper('router', scrape),
    envoy: new PlaneScraper('envoy', scrape),
    envoyAdmins: () => envoyAdmins(d.dataDir),
    heat: new HeatScraper(scrape),
    base: (address: string, port: number) => peers.base(address, port),
  };
  const feed = new Feed({
    read: (seq) => readSnapshot({ kv, layout: d.layout, edge: d.edge, migrator: d.migrator, rollouts: d.rollouts, traffic }, seq),
    log: d.log,
    intervalMs: d.pollMs,
  });
  const pager = new MarketPager();
  const files = loadStatic();
  const reportsDir = d.reportsDir ?? 'reports';
  const app = new Hono();

  /** Calls the admin API in-process as the session's token. */
  const asAdmin = (s: ConsoleSession, path: string, init: RequestInit = {}) =>
    d.admin.request(path, {
      ...init,
      headers: {
        ...(init.headers as Record<string, string>),
        authorization: `Bearer ${s.token.token}`,
        'x-cellsim-operator': `console:${s.token.name}`,
      },
    });

  app.use('/ui/*', async (c, next) => {
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) if (!c.res.headers.has(k)) c.res.headers.set(k, v);
  });
  app.get('/ui/static/:file', (c) => {
    const f = files.get(c.req.param('file'));
    if (!f) return c.json(errorBody('not_found', 'no such file'), 404);
    return c.body(f.body, 200, { 'content-type': f.type, 'cache-control': 'max-age=300' });
  });
  app.get('/ui', (c) => c.redirect('/ui/', 301));
  app.get('/favicon.ico', (c) => c.body(null, 204));
  app.get('/ui/login', (c) => c.html(loginPage()));
  app.post('/ui/login', async (c) => {
    const form = await c.req.parseBody();
    const token = typeof form.token === 'string' ? form.token : '';
    if (!sessions.login(c, token)) return c.html(loginPage('That token is not one of the admin API tokens.'), 401);
    return c.redirect('/ui/', 303);
  });
  app.post('/ui/logout', (c) => {
    sessions.logout(c);
    return c.redirect('/ui/login', 303);
  });

  // Everything below needs a session: a page redirects to the login form, anything else gets 401.
  const session = (c: Context) => sessions.get(c);
  app.use('/ui/*', async (c: Context, next) => {
    if (session(c)) return next();
    if (c.req.method === 'GET' && !c.req.path.startsWith('/ui/api/') && c.req.path !== '/ui/events') return c.redirect('/ui/login', 303);
    return c.json(errorBody('unauthorized', 'log in to the console first (POST /ui/login)'), 401);
  });

  const canAct = (s: ConsoleSession) => s.token.scope === 'operator';
  app.get('/ui/', async (c) => {
    const s = session(c)!;
    const snap = await feed.latest(PAGE_MAX_AGE_MS);
    return c.html(page({ title: 'Overview', session: s, path: '/ui/', live: true, charts: true, body: overviewBody(snap, canAct(s)) }));
  });
  app.get('/ui/operations', async (c) => {
    const s = session(c)!;
    const snap = await feed.latest(PAGE_MAX_AGE_MS);
    return c.html(page({ title: 'Operations', session: s, path: '/ui/operations', live: true, body: operationsBody(snap, canAct(s)) }));
  });
  app.get('/ui/markets', async (c) => {
    const s = session(c)!;
    const snap = await feed.latest(5000);
    const q = {
      q: c.req.query('q') || undefined,
      cell: c.req.query('cell') || undefined,
      state: c.req.query('state') || undefined,
      page: Number(c.req.query('page') ?? 1) || 1,
    };
    const migrating = new Set(snap.migrations.filter((m) => !['done', 'rolled-back', 'failed'].includes(m.state)).map((m) => m.market));
    const p = pager.page(d.edge.current()?.markets ?? new Map(), migrating, q);
    const cells = snap.cells.map((x) => x.id);
    return c.html(page({ title: 'Markets', session: s, path: '/ui/markets', live: true, body: marketsBody(p, q, cells, canAct(s), snap) }));
  });
  app.get('/ui/audit', async (c) => {
    const s = session(c)!;
    const res = await asAdmin(s, '/audit?limit=200');
    const audit: AuditRecord[] = res.ok ? AuditRecordSchema.array().parse(((await res.json()) as { audit: unknown }).audit) : [];
    return c.html(page({ title: 'Audit & reports', session: s, path: '/ui/audit', body: auditBody(audit, listReports(reportsDir)) }));
  });
  app.get('/ui/reports/:name/:file', async (c) => {
    const r = await readReport(reportsDir, c.req.param('name'), c.req.param('file'));
    if (!r) return c.json(errorBody('not_found', 'no such report file'), 404);
    // A report page runs in a sandbox of its own (vegeta's plot has scripts): no cookie, no console.
    return c.body(new Uint8Array(r.body), 200, { 'content-type': r.type, 'content-security-policy': 'sandbox allow-scripts' });
  });

  app.get('/ui/events', (c) => {
    const s = session(c)!;
    return streamSSE(c, async (stream) => {
      const rendered = new Map<number, string>();
      const send = async (snap: Snapshot) => {
        let data = rendered.get(snap.seq);
        if (data === undefined) {
          data = JSON.stringify({ seq: snap.seq, at: snap.at, regions: await renderRegions(snap, canAct(s)), rates: snap.rates });
          rendered.clear();
          rendered.set(snap.seq, data);
        }
        await stream.writeSSE({ event: 'regions', data, id: String(snap.seq) });
      };
      let queue = Promise.resolve();
      const off = feed.subscribe((snap) => {
        queue = queue.then(() => send(snap)).catch(() => undefined);
      });
      stream.onAbort(off);
      await send(await feed.latest());
      while (!stream.aborted && !stream.closed && sessions.get(c)) await stream.sleep(15_000);
      off();
    });
  });

  // Actions: the admin API's own routes, as the session's token (a read token gets the API's 403).
  app.post('/ui/api/*', async (c) => {
    const s = session(c)!;
    if (c.req.header('x-cellsim-console') !== '1') return c.json(errorBody('forbidden', 'console actions come from the console page'), 403);
    const path = c.req.path.slice('/ui/api'.length);
    const res = await asAdmin(s, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: await c.req.text() });
    return new Response(res.body, {
      status: res.status,
      headers: { 'content-type': res.headers.get('content-type') ?? 'application/json' },
    });
  });

  return { routes: app, feed, close: () => feed.close() };
}

/** Every live region of `snap` as HTML text, for one scope. */
async function renderRegions(snap: Snapshot, canAct: boolean): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, region] of Object.entries(REGIONS)) out[name] = (await region(snap, canAct)).toString();
  return out;
}
