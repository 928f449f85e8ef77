/**
 * A real Consul agent on free ports, for tests: ACLs on with `default_policy = "deny"` unless a
 * test asks for `acl: false` (docs/security.md §Consul ACLs). The management token is one per
 * test process, put in `CELLSIM_CONSUL_TOKEN` so that the test's own Consul clients and the
 * processes it starts (which inherit the environment) carry it.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from '../binaries.js';
import { agentPolicyRules, writeAclConfig } from '../consul-acl.js';
import { freePorts } from '../ports.js';
import { ProcessStartError, startProcess, waitFor, type ManagedProcess } from '../process.js';
import { consulArgs, type ConsulPorts } from '../consul-agent.js';

/** A running Consul agent. */
export interface ConsulAgent {
  proc: ManagedProcess;
  /** `http://127.0.0.1:<port>` */
  url: string;
  httpPort: number;
  /** The ports the agent binds, so a restart can reuse them. */
  ports: ConsulPorts;
  /** The management token (undefined with `acl: false`). */
  token: string | undefined;
}

/** Options of {@link startConsul}. */
export interface ConsulStartOptions {
  ports?: ConsulPorts;
  dataDir?: string;
  name?: string;
  /** ACLs with default deny (default true). */
  acl?: boolean;
}

/** The environment variable the Consul client reads its token from (shared/consul/token.ts). */
const TOKEN_ENV = 'CELLSIM_CONSUL_TOKEN';

/** The header that carries this test process's token to Consul (none when it has none). */
export function consulAuth(): Record<string, string> {
  const t = process.env[TOKEN_ENV];
  return t ? { 'x-consul-token': t } : {};
}

/** This test process's management token: the environment's, else a new one, put there. */
export function harnessManagementToken(): string {
  return (process.env[TOKEN_ENV] ||= randomUUID());
}

/** Picks free ports for an agent. */
export async function consulPorts(): Promise<ConsulPorts> {
  const [http, serfLan, serfWan, server, grpc] = await freePorts(5);
  return { http: http!, serfLan: serfLan!, serfWan: serfWan!, server: server!, grpc: grpc! };
}

/**
 * True when Consul failed to start because one of its ports was taken: it says so only in its
 * own output, so that output is read, never the error's message.
 */
export function portTaken(err: unknown): boolean {
  return err instanceof ProcessStartError && /address already in use/.test(err.output);
}

/** Attempts at fresh ports when one of the picked ports was taken before Consul bound it. */
const PORT_ATTEMPTS = 3;

/**
 * Starts a Consul dev agent and waits until it has a leader and accepts KV writes. Ports picked
 * here are free when picked, not reserved: when another process takes one before Consul binds
 * it, the agent is started again on fresh ports (never when the caller chose the ports).
 */
export async function startConsul(opts: ConsulStartOptions = {}): Promise<ConsulAgent> {
  for (let attempt = 1; ; attempt++) {
    const ports = opts.ports ?? (await consulPorts());
    try {
      return await startOn(ports, opts);
    } catch (err) {
      if (opts.ports !== undefined || !portTaken(err) || attempt >= PORT_ATTEMPTS) throw err;
    }
  }
}

async function startOn(ports: ConsulPorts, opts: ConsulStartOptions): Promise<ConsulAgent> {
  const url = `http://127.0.0.1:${ports.http}`;
  const token = opts.acl === false ? undefined : harnessManagementToken();
  const agentToken = randomUUID();
  // The config names secrets: a private directory, removed as soon as Consul has read it.
  const confDir = token ? mkdtempSync(join(tmpdir(), 'cellsim-consul-acl-')) : undefined;
  const extra = token && confDir ? writeAclConfig(join(confDir, 'acl.hcl'), { management: token, agent: agentToken }) : [];
  const auth: Record<string, string> = token ? { 'x-consul-token': token } : {};
  let proc: ManagedProcess;
  try {
    proc = await startProcess({
      name: opts.name ?? 'consul',
      command: requireBinary('consul'),
      args: [...consulArgs(ports, opts.dataDir), ...extra],
      ready: {
        check: async () => {
          const res = await fetch(`${url}/v1/status/leader`, { signal: AbortSignal.timeout(1000) });
          const leader = (await res.text()).replace(/"/g, '');
          return res.ok && leader.length > 0;
        },
      },
      readyTimeoutMs: 30_000,
    });
  } finally {
    if (confDir) rmSync(confDir, { recursive: true, force: true });
  }
  // A leader can exist a moment before the KV store answers (and before the management token
  // exists); wait for a real write.
  await waitFor(
    async () => {
      const res = await fetch(`${url}/v1/kv/_cellsim_ready`, {
        method: 'PUT',
        body: '1',
        headers: auth,
        signal: AbortSignal.timeout(1000),
      });
      return res.ok;
    },
    15_000,
    () => 'consul KV to accept writes',
  );
  await fetch(`${url}/v1/kv/_cellsim_ready`, { method: 'DELETE', headers: auth });
  if (token) await makeAgentToken(url, auth, agentToken);
  return { proc, url, httpPort: ports.http, ports, token };
}

/**
 * Gives the agent its own token (named in its config, made here): write on its node only. The
 * harness is the ground and imports no product code, so it speaks Consul's ACL API itself.
 */
async function makeAgentToken(url: string, auth: Record<string, string>, secret: string): Promise<void> {
  const name = 'harness-agent';
  const put = async (path: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method: 'PUT',
      headers: auth,
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    const text = await res.text();
    // A restart on the same data directory finds its policy already there.
    if (!res.ok && !/already exists/.test(text)) throw new Error(`consul PUT ${path}: ${res.status} ${text.slice(0, 200)}`);
  };
  await put('/v1/acl/policy', { Name: name, Rules: agentPolicyRules('cellsim') });
  await put('/v1/acl/token', { SecretID: secret, Description: 'harness agent', Policies: [{ Name: name }] });
}
