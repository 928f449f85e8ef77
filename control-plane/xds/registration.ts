/**
 * Announces a control plane in Consul as `cellsim-xds` (docs/contracts.md §Consul services): its HTTP port (health,
 * status, admin, hold endpoint) with an HTTP check on /readyz, and its xDS port in the meta.
 *
 * The announcement waits until the control plane has a routing view (so the hold endpoint it
 * offers can answer), and registers with the check already passing: the instance is in every
 * Envoy's hold cluster at once, instead of after Consul's first check (staggered up to a full
 * interval), during which a frozen market had no hold endpoint. While Consul is unreachable
 * it retries every second.
 */
import { ConsulClient, SERVICE_XDS, type ServiceDefinition } from '../../shared/consul.js';
import type { Logger } from '../../shared/logger.js';

/** A registration that can be withdrawn. */
export interface Registration {
  serviceId: string;
  deregister(): Promise<void>;
}

/** What identifies the control plane in Consul. */
export interface RegistrationOptions {
  consulUrl: string;
  /** The process's Consul client (default: one on `consulUrl`). */
  consul?: ConsulClient;
  id: string;
  host: string;
  httpPort: number;
  xdsPort: number;
  /** Register with the check passing from the start (the caller knows /readyz answers 200). */
  passing?: boolean;
  /** The HTTP port serves HTTPS (`--api-tls`): Consul checks it in HTTPS, without verifying (it has no copy of the CA), as a cell's. */
  tls?: boolean;
}

/** Registers the control plane; throws when Consul refuses or cannot be reached. */
export async function registerControlPlane(o: RegistrationOptions): Promise<Registration> {
  const serviceId = `${SERVICE_XDS}-${o.id}-${o.httpPort}`;
  const consul = o.consul ?? new ConsulClient({ url: o.consulUrl });
  const check: ServiceDefinition['Check'] = {
    HTTP: `${o.tls ? 'https' : 'http'}://${o.host}:${o.httpPort}/readyz`,
    ...(o.tls ? { TLSSkipVerify: true } : {}),
    Interval: '1s',
    Timeout: '1s',
    DeregisterCriticalServiceAfter: '1m',
    ...(o.passing ? { Status: 'passing' as const } : {}),
  };
  await consul.agent.register(
    {
      ID: serviceId,
      Name: SERVICE_XDS,
      Address: o.host,
      Port: o.httpPort,
      Meta: { id: o.id, xds_port: String(o.xdsPort) },
      Check: check,
    },
    { timeoutMs: 5000 },
  );
  return {
    serviceId,
    async deregister() {
      await consul.agent.deregister(serviceId, { timeoutMs: 3000 }).catch(() => undefined);
    },
  };
}

/** A background announcement (see the module comment). */
export interface Announcement {
  /** True once the first registration attempt finished (registered or failed). */
  readonly attempted: boolean;
  /** True while registered. */
  readonly registered: boolean;
  /** Stops retrying and deregisters. */
  stop(): Promise<void>;
}

/** Registers once `ready()` is true, with the check passing; retries every `retryMs` while Consul refuses. */
export function announceControlPlane(o: RegistrationOptions & { ready: () => boolean; log: Logger; retryMs?: number }): Announcement {
  let attempted = false;
  let registration: Registration | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const attempt = async () => {
    timer = undefined;
    if (stopped) return;
    if (!o.ready()) {
      timer = setTimeout(() => void (running = attempt()), 20);
      return;
    }
    try {
      registration = await registerControlPlane({ ...o, passing: true });
      o.log.info({ serviceId: registration.serviceId }, `registered in Consul as ${SERVICE_XDS}`);
    } catch (err) {
      o.log.warn({ err: (err as Error).message }, `could not register as ${SERVICE_XDS}; retrying`);
      if (!stopped) timer = setTimeout(() => void (running = attempt()), o.retryMs ?? 1000);
    } finally {
      attempted = true;
    }
  };
  running = attempt();
  return {
    get attempted() {
      return attempted;
    },
    get registered() {
      return registration !== undefined;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      await registration?.deregister();
      registration = undefined;
    },
  };
}
