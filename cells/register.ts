/**
 * Consul registration of a cell process: service `cellsim-cell`, ID
 * `cellsim-cell-<cell>-<color>-<port>`, meta {cell, version, color}, an HTTP check on /readyz
 * every second, deregistered after a minute critical. Retries until Consul answers, and
 * registers again if the agent forgot the service (e.g. a restarted dev agent). A cell's order
 * service alone adds `role: order` to the meta; its delivery service registers as
 * `cellsim-delivery` (meta with `role: delivery`), never as a cell, so routers send it nothing
 * (docs/contracts.md §Consul services).
 */
import { ConsulClient, SERVICE_CELL, SERVICE_DELIVERY, type ServiceDefinition } from '../shared/consul.js';
import type { Logger } from '../shared/logger.js';

/** Where and what to register. */
export interface RegistrationSpec {
  consul: string;
  cell: string;
  color: string;
  version: string;
  /** `all` (default): the whole cell; `order` or `delivery`: one service of it. */
  role?: 'all' | 'order' | 'delivery';
  host: string;
  port: number;
  /** The cell serves HTTPS: Consul's check speaks HTTPS. */
  tls?: boolean;
}

/** The Consul service a process of `role` registers as. */
export function serviceName(role: RegistrationSpec['role'] = 'all'): string {
  return role === 'delivery' ? SERVICE_DELIVERY : SERVICE_CELL;
}

/** The service ID of a cell process. */
export function serviceId(s: { cell: string; color: string; port: number; role?: RegistrationSpec['role'] }): string {
  return `${serviceName(s.role)}-${s.cell}-${s.color}-${s.port}`;
}

/** A live registration; `stop()` stops maintaining it and deregisters. */
export interface Registration {
  readonly id: string;
  /** Resolves after the first successful registration. */
  readonly registered: Promise<void>;
  stop(): Promise<void>;
}

/** Registers and keeps the registration alive (checked every `checkMs`, default 10 s). */
export function registerCell(spec: RegistrationSpec, logger: Logger, checkMs = 10_000): Registration {
  const id = serviceId(spec);
  const consul = new ConsulClient({ url: spec.consul });
  const base = consul.url;
  const definition: ServiceDefinition = {
    ID: id,
    Name: serviceName(spec.role),
    Address: spec.host,
    Port: spec.port,
    Meta: { cell: spec.cell, version: spec.version, color: spec.color, ...(spec.role && spec.role !== 'all' ? { role: spec.role } : {}) },
    Check: {
      HTTP: `${spec.tls ? 'https' : 'http'}://${spec.host}:${spec.port}/readyz`,
      // Consul has no copy of the local CA to verify the cell with; the check reads readiness only.
      ...(spec.tls ? { TLSSkipVerify: true } : {}),
      Interval: '1s',
      Timeout: '1s',
      DeregisterCriticalServiceAfter: '1m',
      // The cell registers only once it is ready, so it starts passing: a re-registration after
      // a Consul restart must not drop it from the passing set until the first check runs.
      Status: 'passing',
    },
  };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let resolveFirst: () => void = () => undefined;
  const registered = new Promise<void>((r) => (resolveFirst = r));
  let ok = false;

  const attempt = async () => {
    if (stopped) return;
    try {
      const known = ok ? (await consul.agent.service(id, { timeoutMs: 3000 })) !== undefined : false;
      if (!known) {
        await consul.agent.register(definition, { timeoutMs: 3000 });
        if (ok) logger.warn({ serviceId: id }, 'consul had forgotten the service; registered again');
        else logger.info({ serviceId: id, consul: base }, 'registered in consul');
        ok = true;
        resolveFirst();
      }
    } catch (err) {
      logger.warn({ err: (err as Error).message, consul: base }, 'consul registration failed; retrying');
    }
    if (!stopped) {
      timer = setTimeout(() => void attempt(), ok ? checkMs : 2000);
      timer.unref();
    }
  };
  void attempt();

  return {
    id,
    registered,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      try {
        await consul.agent.deregister(id, { timeoutMs: 3000 });
        logger.info({ serviceId: id }, 'deregistered from consul');
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'consul deregistration failed');
      }
    },
  };
}
