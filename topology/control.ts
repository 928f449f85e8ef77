/**
 * The supervisor's control channel (loopback HTTP, its own bearer token, the supervisor token,
 * on every route), for drills and for the control plane's rollouts. Routes are documented in
 * docs/operators.md.
 */
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { HttpError, errorBody, isCellsimError } from '../shared/errors.js';
import { formatIssues } from '../shared/kv.js';
import type { Logger } from '../shared/logger.js';
import { jsonBodyLimit, tokenAuth } from '../shared/token-auth.js';
import { watchTls } from '../shared/pki/reload.js';
import type { TlsFiles } from '../shared/pki/names.js';
import type { Child } from './child.js';
import { MAX_DELIVERY, MIN_DELIVERY } from '../control-plane/admin/delivery-scale.js';
import type { Scaled } from './delivery-scale.js';

/** What the control channel drives (the Supervisor; an interface here so the two modules do not import each other). */
export interface Supervisor {
  readonly children: ReadonlyMap<string, Child>;
  resolve(name: string): Child[];
  describe(): Record<string, unknown>;
  startCell(cell: string, color: 'blue' | 'green', version: string, defect?: unknown): Promise<Child>;
  stopCell(cell: string, color: 'blue' | 'green'): Promise<void>;
  addCell(cell: string, version: string): Promise<Child>;
  removeCell(cell: string): Promise<void>;
  /** Brings a split cell's delivery service to `n` instances (topology/delivery-scale.ts). */
  scaleDelivery(cell: string, n: number): Promise<Scaled>;
  /** Starts (or replaces) a split cell's delivery instance `n` (topology/delivery-instance.ts). */
  startDelivery(cell: string, n: number, version: string, defect?: unknown): Promise<Child>;
  /** Stops and forgets a split cell's delivery instance `n`. */
  stopDelivery(cell: string, n: number): Promise<void>;
  scheduleWrite(): void;
  /** Cuts (`cut`) or restores every link of a host under `cellctl up --hosts`; absent on one host. */
  partitionHost?(host: string, cut: boolean, from?: readonly string[]): Promise<void>;
}

/** A running control server. */
export interface ControlServer {
  /** The port it listens on (the one asked for, or the one given for 0). */
  port: number;
  close(): Promise<void>;
}

const StartCellBody = z
  .object({ version: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/), defect: z.record(z.unknown()).optional() })
  .strict();

const ScaleBody = z.object({ instances: z.number().int().min(MIN_DELIVERY).max(MAX_DELIVERY) }).strict();

/** One child as the control channel reports it. */
export function childView(c: Child) {
  const s = c.spec;
  return {
    name: s.name,
    kind: s.kind,
    state: c.state,
    /** The process that listens (null while it does not). */
    pid: c.pid,
    /** Its shell watchdog, the leader of its process group. */
    wrapperPid: c.wrapperPid,
    restarts: c.restarts,
    readyAt: c.readyAt ?? null,
    keepDown: c.keepDown,
    url: s.url,
    port: s.port,
    ...(s.cell ? { cell: s.cell, color: s.color, version: s.version } : {}),
    ...(s.role ? { role: s.role } : {}),
    ...(s.host ? { host: s.host } : {}),
    log: c.logFile,
    ...(c.problem ? { problem: c.problem, problemAt: c.problemAt } : {}),
  };
}

/** Builds the control app (exported for tests through app.request()); `log` gets what a 500 hides. */
export function controlApp(sup: Supervisor, token: string, log?: Logger): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    if (err instanceof HttpError && err.status !== 500) return c.json(err.body(), err.status as 400);
    log?.error({ err: err.message, path: c.req.path }, 'control channel request failed');
    return c.json(errorBody('internal', 'internal error (details in the supervisor log)'), 500);
  });
  app.use(
    '*',
    tokenAuth({ tokens: [{ name: 'supervisor', scope: 'operator', token }], what: 'control channel', scopeOf: () => 'operator' }),
  );
  app.use('*', jsonBodyLimit(64 * 1024));
  const children = (name: string) => {
    const found = sup.resolve(name);
    if (found.length === 0) throw new HttpError('not_found', `no child '${name}' (GET /children lists them)`);
    return found;
  };
  const color = (v: string) => {
    if (v !== 'blue' && v !== 'green') throw new HttpError('invalid_request', `color must be blue or green, not '${v}'`);
    return v;
  };

  app.get('/children', (c) => c.json([...sup.children.values()].map(childView)));
  app.get('/topology', (c) => c.json(sup.describe()));
  app.post('/children/:name/kill', async (c) => {
    const hold = ['1', 'true', 'yes'].includes(c.req.query('hold') ?? '');
    const list = children(c.req.param('name'));
    await Promise.all(list.map((k) => k.kill(hold)));
    sup.scheduleWrite();
    return c.json(list.map(childView));
  });
  const partition = (cut: boolean) => async (c: Context) => {
    const host = c.req.param('host') ?? '';
    if (!sup.partitionHost) throw new HttpError('not_found', 'this topology has no hosts (cellctl up --hosts)');
    // ?from=a,b: cut only the paths between the host and those hosts (docs/multi-host.md §Partitions).
    const from = c.req.query('from')?.split(',');
    await sup.partitionHost(host, cut, from);
    return c.json(cut ? { partitioned: host, ...(from ? { from } : {}) } : { healed: host });
  };
  app.post('/hosts/:host/partition', partition(true));
  app.delete('/hosts/:host/partition', partition(false));
  app.post('/children/:name/stop', async (c) => {
    const list = children(c.req.param('name'));
    await Promise.all(list.map((k) => k.stop()));
    sup.scheduleWrite();
    return c.json(list.map(childView));
  });
  app.post('/children/:name/start', async (c) => {
    const list = children(c.req.param('name'));
    const wait = c.req.query('wait') !== 'none';
    const started = Promise.all(list.map((k) => k.start(90_000)));
    if (wait) await started;
    else started.catch(() => undefined);
    sup.scheduleWrite();
    return c.json(list.map(childView));
  });
  const unknownCell = async <T>(act: () => Promise<T>): Promise<T> => {
    try {
      return await act();
    } catch (err) {
      if (isCellsimError(err, 'unknown_cell')) throw new HttpError('not_found', (err as Error).message);
      throw err;
    }
  };
  app.post('/cells/:cell', async (c) => {
    const parsed = StartCellBody.omit({ defect: true }).safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) throw new HttpError('invalid_request', formatIssues(parsed.error).join('; '));
    const child = await unknownCell(() => sup.addCell(c.req.param('cell'), parsed.data.version));
    return c.json(childView(child));
  });
  app.delete('/cells/:cell', async (c) => {
    await unknownCell(() => sup.removeCell(c.req.param('cell')));
    return c.json({ removed: c.req.param('cell') });
  });
  // Before `/cells/:cell/:color`, which would take `delivery` for a color.
  app.put('/cells/:cell/delivery', async (c) => {
    const parsed = ScaleBody.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) throw new HttpError('invalid_request', formatIssues(parsed.error).join('; '));
    const cell = c.req.param('cell');
    const scaled = await unknownCell(() => sup.scaleDelivery(cell, parsed.data.instances));
    const instances = [...sup.children.values()].filter((k) => k.spec.kind === 'delivery' && k.spec.cell === cell).map(childView);
    return c.json({ ...scaled, instances });
  });
  const instance = (v: string) => {
    if (!/^[1-9][0-9]?$/.test(v)) throw new HttpError('invalid_request', `a delivery instance is a number from 1, not '${v.slice(0, 16)}'`);
    return Number(v);
  };
  app.put('/cells/:cell/delivery/:n', async (c) => {
    const parsed = StartCellBody.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) throw new HttpError('invalid_request', formatIssues(parsed.error).join('; '));
    const n = instance(c.req.param('n'));
    const child = await unknownCell(() => sup.startDelivery(c.req.param('cell'), n, parsed.data.version, parsed.data.defect));
    return c.json(childView(child));
  });
  app.delete('/cells/:cell/delivery/:n', async (c) => {
    const n = instance(c.req.param('n'));
    await unknownCell(() => sup.stopDelivery(c.req.param('cell'), n));
    return c.json({ stopped: `${c.req.param('cell')}.delivery-${n}` });
  });
  app.put('/cells/:cell/:color', async (c) => {
    const parsed = StartCellBody.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) throw new HttpError('invalid_request', formatIssues(parsed.error).join('; '));
    try {
      const child = await sup.startCell(c.req.param('cell'), color(c.req.param('color')), parsed.data.version, parsed.data.defect);
      return c.json(childView(child));
    } catch (err) {
      if (err instanceof HttpError) throw err;
      if (isCellsimError(err, 'unknown_cell')) throw new HttpError('not_found', (err as Error).message);
      throw err;
    }
  });
  app.delete('/cells/:cell/:color', async (c) => {
    await sup.stopCell(c.req.param('cell'), color(c.req.param('color')));
    return c.json({ stopped: `${c.req.param('cell')}.${c.req.param('color')}` });
  });
  return app;
}

/**
 * Serves the control app on `host`:`port` (127.0.0.1; the bridge's address under `cellctl up
 * --hosts`); with `tls` (the supervisor's certificate files) in HTTPS only, so that the token does
 * not cross the bridge in clear (`cellctl up --hosts --tls`). The files are watched: a rotated
 * certificate serves the next connections (docs/tls.md §Rotation without restarts).
 */
export async function startControlServer(
  sup: Supervisor,
  port: number,
  token: string,
  log: Logger,
  host = '127.0.0.1',
  tls?: TlsFiles,
): Promise<ControlServer> {
  const app = controlApp(sup, token, log);
  const watch = tls ? watchTls(tls, { logger: log }) : undefined;
  const pem = watch?.current();
  const https = pem ? { createServer: createHttpsServer, serverOptions: { cert: pem.cert, key: pem.key } } : {};
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port, hostname: host, ...https }, () => resolve(s));
    s.once('error', reject);
  }).catch((err: unknown) => {
    watch?.close();
    throw err;
  });
  watch?.onChange((m) => (server as HttpsServer).setSecureContext({ cert: m.cert, key: m.key }));
  // Idle connections kept longer than any client keeps them (undici: 4 s), so that a client never
  // sends on one the server is closing: a drill's call after a migration of several seconds failed
  // with "fetch failed" over HTTPS.
  (server as unknown as { keepAliveTimeout: number }).keepAliveTimeout = 65_000;
  log.debug({ port }, 'supervisor control channel listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        watch?.close();
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}
