/**
 * Registers the router in Consul as `cellsim-router` with an HTTP check on its /readyz (HTTPS
 * when its edge serves HTTPS, `--edge-tls`: not verified, as a cell's, Consul having no copy of
 * the local CA; the check reads readiness only), and
 * keeps the registration alive: re-registers every few seconds (cheap and idempotent), so a
 * Consul that was down at start, or restarted without state, learns about the router again.
 */
import { ConsulClient, followedCaFromEnv } from '../shared/consul/client.js';
import { undiciTransport } from '../shared/consul/undici.js';
import { SERVICE_ROUTER } from '../shared/consul-watch.js';
import type { Logger } from '../shared/logger.js';

/** Options of {@link keepRegistered}. */
export interface RegistrationOptions {
  consulUrl: string;
  id: string;
  host: string;
  port: number;
  /** Re-registration period, ms [10,000]. */
  everyMs?: number;
  /** The port serves HTTPS (`--edge-tls`): Consul checks it in HTTPS. */
  tls?: boolean;
  logger: Logger;
}

/** A kept registration; `stop()` deregisters. */
export interface Registration {
  readonly serviceId: string;
  stop(): Promise<void>;
}

/** Registers now and keeps the registration alive until stopped. */
export function keepRegistered(opts: RegistrationOptions): Registration {
  const serviceId = `${SERVICE_ROUTER}-${opts.id}`;
  const checkHost = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  const consul = new ConsulClient({ url: opts.consulUrl, transport: undiciTransport({ ca: followedCaFromEnv() }) });
  const definition = {
    ID: serviceId,
    Name: SERVICE_ROUTER,
    Address: checkHost,
    Port: opts.port,
    Meta: { id: opts.id },
    Check: {
      HTTP: `${opts.tls ? 'https' : 'http'}://${checkHost}:${opts.port}/readyz`,
      ...(opts.tls ? { TLSSkipVerify: true } : {}),
      Interval: '1s',
      Timeout: '1s',
      DeregisterCriticalServiceAfter: '1m',
    },
  };
  let stopped = false;
  let failing = false;
  let timer: NodeJS.Timeout | undefined;
  const once = async () => {
    try {
      await consul.agent.register(definition, { timeoutMs: 3000 });
      if (failing) opts.logger.info({ serviceId }, 'registered in consul again');
      failing = false;
    } catch (err) {
      if (!failing) opts.logger.warn({ serviceId, err: (err as Error).message }, 'consul registration failed; retrying');
      failing = true;
    }
  };
  const loop = async () => {
    await once();
    if (!stopped) {
      timer = setTimeout(() => void loop(), failing ? 1000 : (opts.everyMs ?? 10_000));
      timer.unref();
    }
  };
  void loop();
  return {
    serviceId,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      try {
        await consul.agent.deregister(serviceId, { timeoutMs: 2000 });
      } catch {
        /* Consul down: its DeregisterCriticalServiceAfter cleans up */
      }
    },
  };
}
