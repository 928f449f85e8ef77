/**
 * `cellctl seed`: what `cellctl up` does to a fresh Consul before anything routes, for a Consul it
 * does not run (the Kubernetes seed Job, infra/deploy/k8s/seed.yaml): with the management token,
 * every kind's ACL policy and token (shared/consul-acl.ts), then, with the supervisor's token, the
 * cell records cell-0 … cell-(n-1) (cell-0 the canary) and the market map, create-only
 * (topology/seed.ts). Idempotent: a second run changes nothing. Tokens come from files
 * (`<data>/tokens/consul-*`, a mounted Secret in a cluster), never from argv.
 */
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { writeAclConfig } from '../infra/consul-acl.js';
import { parsePositiveInt, parseUrl } from '../shared/cli.js';
import { ConsulClient } from '../shared/consul/client.js';
import {
  CONSUL_TOKEN_KINDS,
  ensureAclTokens,
  ensureConsulTokenFiles,
  readConsulToken,
  type ConsulTokenKind,
} from '../shared/consul-acl.js';
import { CellsimError } from '../shared/errors.js';
import { DEFAULT_PREFIX } from '../shared/kv.js';
import { ensureTokenFiles } from '../shared/tokens.js';
import { TOPOLOGY_DEFAULTS } from './config.js';
import { DEFAULT_MARKETS } from './markets.js';
import { seedWith } from './seed.js';

interface Flags {
  consul?: string;
  data: string;
  cells: number;
  prefix: string;
  version: string;
  nodes: string[];
  timeout: number;
  json?: boolean;
}

/** Every token the seed needs, read from `<data>/tokens/consul-<kind>`; a missing or bad file is `invalid_token_config`. */
function readTokens(data: string): { management: string; kinds: Record<ConsulTokenKind, string> } {
  const read = (kind: ConsulTokenKind | 'management') => {
    try {
      return readConsulToken(data, kind);
    } catch (err) {
      throw new CellsimError('invalid_token_config', (err as Error).message);
    }
  };
  const kinds = {} as Record<ConsulTokenKind, string>;
  for (const k of CONSUL_TOKEN_KINDS) kinds[k] = read(k);
  return { management: read('management'), kinds };
}

/** Retries `fn` until it succeeds or `deadline` passes: a fresh cluster elects its leader, then makes the management token. */
async function untilDeadline<T>(deadline: number, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** The agent config a cluster's Consul servers load (infra/deploy/k8s/consul.yaml): ACLs on, default deny, its two tokens. */
export const CONSUL_ACL_FILE = 'consul-acl.hcl';

/**
 * `cellctl seed secrets`: the files a cluster's Secrets are made from (infra/deploy/k8s/kustomization.yaml),
 * made as `cellctl up` makes its own: `<dir>/tokens/` (0700) with the admin tokens, the Consul
 * tokens and the servers' ACL config, each 0600. Existing files are kept (a rotation deletes them first).
 */
function secretsCommand(): Command {
  return new Command('secrets')
    .description("write the token files and Consul ACL config a cluster's Secrets are made from; keeps those that exist")
    .option('--dir <dir>', 'where to write tokens/ (e.g. infra/deploy/k8s/secrets)', 'infra/deploy/k8s/secrets')
    .option('--json', 'print one JSON document')
    .action((f: { dir: string; json?: boolean }) => {
      const admin = ensureTokenFiles(f.dir);
      const consul = ensureConsulTokenFiles(f.dir);
      writeAclConfig(join(f.dir, 'tokens', CONSUL_ACL_FILE), { management: consul.secrets.management, agent: consul.secrets.agent });
      const created = [...admin.created, ...consul.created.map((k) => `consul-${k}`)];
      const out = { dir: join(f.dir, 'tokens'), created };
      if (f.json) return void process.stdout.write(`${JSON.stringify(out)}\n`);
      process.stdout.write(
        `${out.dir}: ${created.length ? `made ${created.join(', ')}` : 'every token file exists; kept'}; ${CONSUL_ACL_FILE} written\n`,
      );
    });
}

/** Builds the command. */
export function command(): Command {
  const cmd = new Command('seed')
    .enablePositionalOptions()
    .description(
      "give a fresh Consul cellsim's ACL policies and tokens, its cells (cell-0 the canary) and the market map, as cellctl up does; changes nothing that exists",
    )
    .option('--consul <url>', 'Consul HTTP address, e.g. http://consul:8500 (required)', parseUrl)
    .option('--data <dir>', 'directory whose tokens/ holds consul-management and consul-<kind> (one UUID each)', TOPOLOGY_DEFAULTS.dataDir)
    .option('--cells <n>', 'number of cells, cell-0 … cell-(n-1)', parsePositiveInt, TOPOLOGY_DEFAULTS.cells)
    .option('--prefix <prefix>', 'Consul KV prefix', DEFAULT_PREFIX)
    .option('--version <version>', 'version the cell records start on', TOPOLOGY_DEFAULTS.initialVersion)
    .addOption(
      new Option('--nodes <names>', "Consul node names the agent token may write (comma-separated: the agents' -node)")
        .argParser((v: string) => v.split(',').filter(Boolean))
        .default(['cellsim']),
    )
    .option('--timeout <seconds>', 'how long to wait for Consul to elect a leader and take the tokens', parsePositiveInt, 120)
    .option('--json', 'print one JSON document')
    .action(async (f: Flags) => {
      const consul = f.consul;
      if (!consul) return cmd.error("error: required option '--consul <url>' not specified");
      try {
        await seed({ ...f, consul });
      } catch (err) {
        const code = err instanceof CellsimError ? err.code : 'command_failed';
        const message = (err as Error).message;
        if (f.json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
        process.stderr.write(`cellctl seed: ${code}: ${message}\n`);
        process.exitCode = 1;
      }
    });
  cmd.addCommand(secretsCommand());
  return cmd;
}

async function seed(f: Flags & { consul: string }): Promise<void> {
  const { management, kinds } = readTokens(f.data);
  const deadline = Date.now() + f.timeout * 1000;
  const plan = { prefix: f.prefix, cells: f.cells, initialVersion: f.version };
  await untilDeadline(deadline, () =>
    ensureAclTokens(new ConsulClient({ url: f.consul, token: management }), { prefix: f.prefix, node: f.nodes, secrets: kinds }),
  );
  const seeded = await untilDeadline(deadline, () =>
    seedWith(new ConsulClient({ url: f.consul, token: kinds.supervisor }), plan, DEFAULT_MARKETS),
  );
  const out = { created: seeded.created, cells: [...seeded.cells.keys()].sort(), markets: seeded.markets.size };
  if (f.json) return void process.stdout.write(`${JSON.stringify(out)}\n`);
  process.stdout.write(
    `seeded: ${out.created} record(s) created; Consul holds ${out.cells.length} cells (${out.cells.join(', ')}) and ${out.markets} markets\n`,
  );
}
