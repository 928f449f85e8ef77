/**
 * One undici connection pool per cell endpoint (keep-alive, bounded sockets), created on
 * first use and closed when the endpoint leaves the passing set.
 */
import { Pool } from 'undici';
import { cellServerCheck, type TlsMaterial } from '../../shared/pki/identity.js';
import type { TlsSource } from '../../shared/pki/reload.js';
import type { Endpoint } from '../../shared/routing-table.js';

/** Pool options (defaults in brackets). */
export interface PoolOptions {
  /** Sockets per endpoint at most [128]. */
  connections?: number;
  /**
   * Connect timeout, ms [1000; 2000 with `tls`]. undici's covers the TLS handshake too, which needs
   * the cell's event loop: a live cell on a loaded machine took over 1 s, and each such connect
   * was a `503 cell_unavailable` (docs/tls.md §A busy cell at the edge). A cut or black-holed
   * host is found by the liveness probe's plain TCP connect (cut-off.ts), not by this.
   */
  connectTimeoutMs?: number;
  /**
   * Longest idle keep-alive, ms [2000; 8000 with `tls`]. undici takes the upstream's
   * `Keep-Alive: timeout=` hint minus 2 s, capped by this (cells advertise 10 s: sockets idle
   * 2 s at most, 8 s with TLS), and this when there is no hint. Under the upstream's own
   * timeout, so an idle socket is normally closed by the router first; the race that remains (a
   * cell whose event loop was blocked runs its idle timer before reading a request) is retried
   * (proxy/attempts.ts). With TLS a socket closed is a full handshake to open again on the one
   * thread that proxies, so sockets live up to the cells' hint (bench/tls.md).
   */
  keepAliveMs?: number;
  /**
   * Mutual TLS to the cells: HTTPS, presenting this certificate, trusting only this CA, and
   * accepting a server only when its certificate names a cell (shared/pki/identity.ts). Watched
   * files (shared/pki/reload.ts): on each accepted change every pool is replaced by one with the
   * new material for the requests that follow, the old one closing after those it carries.
   */
  tls?: TlsSource;
}

/** The pools of every endpoint in use. */
export class PoolSet {
  private readonly pools = new Map<string, Pool>();
  private tls: TlsMaterial | undefined;

  constructor(private readonly opts: PoolOptions = {}) {
    this.tls = opts.tls?.current();
    opts.tls?.onChange((tls) => {
      this.tls = tls;
      const old = [...this.pools.values()];
      this.pools.clear();
      for (const pool of old) void pool.close().catch(() => undefined);
    });
  }

  /** A pool per cell and address: under TLS, its connections accept only that cell's certificate. */
  private static key(ep: Endpoint): string {
    return `${ep.cell}@${ep.address}:${ep.port}`;
  }

  /** The pool of `ep`. */
  get(ep: Endpoint): Pool {
    const key = PoolSet.key(ep);
    let pool = this.pools.get(key);
    if (!pool) {
      const tls = this.tls;
      pool = new Pool(`${tls ? 'https' : 'http'}://${ep.address}:${ep.port}`, {
        connections: this.opts.connections ?? 128,
        pipelining: 1,
        connect: {
          timeout: this.opts.connectTimeoutMs ?? (tls ? 2000 : 1000),
          ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key, checkServerIdentity: cellServerCheck(ep.cell) } : {}),
        },
        keepAliveTimeout: this.opts.keepAliveMs ?? (tls ? 8000 : 2000),
        keepAliveMaxTimeout: this.opts.keepAliveMs ?? (tls ? 8000 : 2000),
        keepAliveTimeoutThreshold: 2000,
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Closes (after their in-flight requests) the pools of endpoints not in `endpoints`. */
  retain(endpoints: readonly Endpoint[]): void {
    const keep = new Set(endpoints.map((ep) => PoolSet.key(ep)));
    for (const [key, pool] of this.pools) {
      if (keep.has(key)) continue;
      this.pools.delete(key);
      void pool.close().catch(() => undefined);
    }
  }

  /** Closes every pool; after `graceMs`, destroys what is left. */
  async close(graceMs = 5000): Promise<void> {
    this.opts.tls?.close();
    const all = [...this.pools.values()];
    this.pools.clear();
    const timer = setTimeout(() => all.forEach((p) => void p.destroy().catch(() => undefined)), graceMs);
    await Promise.allSettled(all.map((p) => p.close()));
    clearTimeout(timer);
  }
}
