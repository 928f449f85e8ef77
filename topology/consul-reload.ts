/**
 * Consul takes a rotated certificate without a restart (docs/tls.md §Rotation without restarts):
 * under `--tls` the supervisor watches Consul's files (`<data>/tls/consul.crt`, `consul.key`,
 * `ca.crt`) with `watchTls` and, on each change it accepts (a complete pair signed by the CA),
 * asks every Consul agent it runs to reload its configuration, `PUT /v1/agent/reload` with the
 * management token (what `consul reload` sends): Consul reads its `cert_file`, `key_file` and
 * `ca_file` again and serves new connections with them. One line per agent, `consul_reloaded`
 * with the new serial and the agent's pid (`agentPid`: `pid` is the supervisor's own), or
 * `consul_reload_failed` at `warn`.
 */
import { X509Certificate } from 'node:crypto';
import type { Logger } from '../shared/logger.js';
import { ConsulClient } from '../shared/consul/client.js';
import { readConsulToken } from '../shared/consul-acl.js';
import { watchTls } from '../shared/pki/reload.js';
import { tlsDir, tlsFiles } from '../shared/pki/names.js';
import type { Child } from './child.js';
import type { TopologyConfig } from './config.js';
import { consulCa } from './acl.js';

/** The watch; `close()` stops it. */
export interface ConsulReloader {
  close(): void;
}

/**
 * Watches Consul's TLS files and reloads each agent of `agents()` (asked at each change: under
 * `--hosts`, agents come and go with cell hosts) when they change. Undefined without `--tls`.
 */
export function reloadConsulOnRotation(cfg: TopologyConfig, agents: () => Child[], log: Logger): ConsulReloader | undefined {
  if (!cfg.tls) return undefined;
  const source = watchTls(tlsFiles(tlsDir(cfg.dataDir), 'consul'), { logger: log });
  const token = readConsulToken(cfg.dataDir, 'management');
  const clients = new Map<string, ConsulClient>();
  const clientOf = (url: string) => {
    let c = clients.get(url);
    if (!c) clients.set(url, (c = new ConsulClient({ url, token, ca: consulCa(cfg) })));
    return c;
  };
  // One reload round at a time: a second change waits for the first round to end.
  let round = Promise.resolve();
  const reloadAll = async (serial: string) => {
    await Promise.all(
      agents().map(async (child) => {
        const agent = child.spec.name;
        try {
          await clientOf(child.spec.url!).agent.reload({ timeoutMs: 5000 });
          log.info(
            { event: 'consul_reloaded', agent, agentPid: child.pid, serial },
            'Consul reloaded its TLS files: new connections get the new certificate',
          );
        } catch (err) {
          log.warn(
            { event: 'consul_reload_failed', agent, agentPid: child.pid, serial, err: (err as Error).message },
            'Consul did not reload its TLS files: it serves the old certificate until its next reload or start',
          );
        }
      }),
    );
  };
  const off = source.onChange((tls) => {
    const serial = new X509Certificate(tls.cert).serialNumber;
    round = round.then(() => reloadAll(serial));
  });
  return {
    close() {
      off();
      source.close();
    },
  };
}
