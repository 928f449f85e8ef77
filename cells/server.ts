/**
 * A cell process: the wired cell on a socket, registered in Consul, with graceful shutdown on
 * SIGTERM/SIGINT — not ready, deregister, keep serving for the drain delay, stop accepting, finish
 * in-flight requests, finish the consumer's current batch, release the background lease, close
 * the database.
 */
import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { watchTls, type TlsSource } from '../shared/pki/reload.js';
import { createCell, type Cell } from './cell.js';
import type { CellConfig } from './config.js';
import { openConfiguredLog } from './log/open.js';
import { openRoleLogs } from './roles.js';
import { registerCell, type Registration } from './register.js';
import { runsBundled } from '../shared/bundled.js';

/** A running cell process. */
export interface RunningCell {
  cell: Cell;
  port: number;
  registration?: Registration;
  /** Graceful shutdown; resolves when everything is closed. */
  stop(): Promise<void>;
}

/** Starts a cell: listen, become ready, start background work, register in Consul. */
export async function runCell(config: CellConfig, opts: { handleSignals?: boolean } = {}): Promise<RunningCell> {
  const cell =
    config.role === 'all'
      ? createCell(config, { log: await openConfiguredLog(config) })
      : createCell(config, { logs: await openRoleLogs(config) });
  const { logger } = cell.ctx;
  // The files are watched: a rotated certificate, key or CA serves new connections without a
  // restart, open ones finish on the old (docs/tls.md §Rotation without restarts).
  const watched: TlsSource | undefined = config.tls ? watchTls(config.tls, { logger }) : undefined;
  const server = await new Promise<Server>((resolve, reject) => {
    // With TLS, every client must speak TLS and may show a certificate; /v1 requires one of a
    // data plane (cells/http/peer.ts), the rest answers any client (health checks, admin by token).
    const tls = watched?.current();
    const options = tls ? { createServer: createHttpsServer, serverOptions: { ...tls, requestCert: true, rejectUnauthorized: false } } : {};
    const s = serve({ fetch: cell.app.fetch, port: config.port, hostname: config.host, ...options }, () => resolve(s as Server));
    (s as Server).once('error', reject);
  });
  watched?.onChange((m) => (server as unknown as HttpsServer).setSecureContext({ ca: m.ca, cert: m.cert, key: m.key }));
  // Idle keep-alive well above its clients' (router 2 s, Envoy 3 s): the client closes an idle
  // connection first, so a request is not sent on a socket the cell is closing (reset → 502).
  server.keepAliveTimeout = 10_000;
  const port = (server.address() as AddressInfo).port;
  await cell.start();
  cell.setReady(true);
  const registration = config.consul
    ? registerCell(
        {
          consul: config.consul,
          cell: config.id,
          color: config.color,
          version: config.version,
          role: config.role,
          host: config.host,
          port,
          tls: config.tls !== undefined,
        },
        logger,
      )
    : undefined;
  logger.info(
    { port, host: config.host, dataDir: config.dataDir, consul: config.consul ?? null, bundled: runsBundled() },
    'cell listening',
  );

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info('shutting down');
      cell.setReady(false);
      await registration?.stop();
      // Routers follow Consul: give them a moment to stop choosing us before the listener closes.
      if (config.drainDelayMs > 0) await new Promise((r) => setTimeout(r, config.drainDelayMs));
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      const drained = await cell.inflight.drained(config.shutdownTimeoutMs);
      if (!drained) logger.warn({ inflight: cell.inflight.count }, 'shutdown timeout: dropping requests still in flight');
      server.closeAllConnections();
      await closed;
      watched?.close();
      await cell.close();
      logger.info('stopped');
    })());

  if (opts.handleSignals !== false) {
    // `on`, not `once`: a second signal (a supervisor repeating it) must not kill the shutdown under way.
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.on(sig, () => {
        void stop().then(
          () => process.exit(0),
          (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      });
    }
  }
  return { cell, port, registration, stop };
}
