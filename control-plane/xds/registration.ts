/**
 * Announces a control plane in Consul as `cellsim-xds` (DESIGN §4): its HTTP port (health,
 * status, admin, hold endpoint) with an HTTP check on /readyz, and its xDS port in the meta.
 */
import { SERVICE_XDS } from '../../shared/consul.js';

/** A registration that can be withdrawn. */
export interface Registration {
  serviceId: string;
  deregister(): Promise<void>;
}

/** Registers the control plane; throws when Consul refuses. */
export async function registerControlPlane(o: {
  consulUrl: string;
  id: string;
  host: string;
  httpPort: number;
  xdsPort: number;
}): Promise<Registration> {
  const serviceId = `${SERVICE_XDS}-${o.id}-${o.httpPort}`;
  const res = await fetch(`${o.consulUrl}/v1/agent/service/register`, {
    method: 'PUT',
    body: JSON.stringify({
      ID: serviceId,
      Name: SERVICE_XDS,
      Address: o.host,
      Port: o.httpPort,
      Meta: { id: o.id, xds_port: String(o.xdsPort) },
      Check: { HTTP: `http://${o.host}:${o.httpPort}/readyz`, Interval: '1s', Timeout: '1s', DeregisterCriticalServiceAfter: '1m' },
    }),
    signal: AbortSignal.timeout(5000),
  });
  if (!res.ok) throw new Error(`consul refused the ${SERVICE_XDS} registration: ${res.status} ${await res.text()}`);
  return {
    serviceId,
    async deregister() {
      await fetch(`${o.consulUrl}/v1/agent/service/deregister/${serviceId}`, { method: 'PUT', signal: AbortSignal.timeout(3000) }).catch(
        () => undefined,
      );
    },
  };
}
