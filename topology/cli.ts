/** `cellctl up`: the whole cellsim topology on one machine, supervised, until Ctrl-C or SIGTERM. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { DEFAULT_PREFIX } from '../shared/kv.js';
import { parseDurationMs, parsePort, parsePositiveInt } from '../shared/cli.js';
import { createLogger } from '../shared/logger.js';
import { ensureTokenFiles } from '../shared/tokens.js';
import { ensureCertificates, tlsDir, topologyLeaves } from '../shared/pki/store.js';
import { DEFAULT_VERSIONS } from '../control-plane/rollout/versions.js';
import { cellIds, TOPOLOGY_DEFAULTS, type TopologyConfig } from './config.js';
import { freePortPlan, portPlan } from './ports.js';
import { statusTable, firstSteps } from './status.js';
import { Supervisor } from './supervisor.js';
import { planHosts } from './hosts/cli.js';
import { leafAddresses } from './hosts/plan.js';
import { freePorts } from '../infra/ports.js';
import { splitChoice } from './split-cells.js';

interface Flags {
  data: string;
  cells: number;
  basePort: number;
  anyPorts?: boolean;
  persist?: boolean;
  prefix: string;
  holdMs: number;
  logLevel: string;
  hosts?: boolean;
  tls?: boolean;
  log: 'sqlite' | 'kafka';
  splitCells?: string;
}

/** Builds the command. */
export function command(): Command {
  return new Command('up')
    .description('start the whole topology (Consul, cells, 2 routers, control plane, 2 Envoys), supervised, until Ctrl-C')
    .option(
      '--data <dir>',
      'data directory: cell databases, logs, tokens/ (one file per token, mode 0600), tls/ (the local CA and one certificate per component, keys 0600), topology.json',
      TOPOLOGY_DEFAULTS.dataDir,
    )
    .option('--cells <n>', 'number of cells (cell-0 is the small canary)', parsePositiveInt, TOPOLOGY_DEFAULTS.cells)
    .option('--base-port <port>', 'shift every default port: 8000 maps to this port (Consul 8500 → base+500, ...)', parsePort, 8000)
    .option('--any-ports', 'take a free port for every component instead (tests, side-by-side runs)')
    .option('--persist', 'persistent Consul under <data>/consul (default: a dev agent, fresh each time)')
    .option('--prefix <prefix>', 'Consul KV prefix', DEFAULT_PREFIX)
    .option(
      '--hold-ms <duration>',
      'how long routers and Envoys hold requests to a frozen market',
      parseDurationMs,
      TOPOLOGY_DEFAULTS.holdMs,
    )
    .option('--log-level <level>', "children's log level (their logs go to <data>/logs/)", TOPOLOGY_DEFAULTS.logLevel)
    .option(
      '--hosts',
      'one network namespace per host (3 Consul servers, a host per cell, edge, control plane, client): root only; docs/multi-host.md',
    )
    .option(
      '--tls',
      'TLS on every hop it supports: routers and Envoys to cells in mutual TLS, xDS over TLS with SDS, HTTPS at the edge (docs/security.md); with --hosts too',
    )
    .addOption(
      new Option(
        '--log <backend>',
        "cells' event log: in each cell's database, or on a Kafka broker per cell (KRaft, under <data>/kafka/; on the cell's host under --hosts)",
      )
        .choices(['sqlite', 'kafka'])
        .default('sqlite'),
    )
    .option(
      '--split-cells <cells>',
      "with --log kafka: the cells split into an order and a delivery service (choreographed saga), comma-separated ids or 'none'; the others run as one process (orchestrated saga). Default: every cell",
    )
    .addHelpText(
      'after',
      '\nDefault ports: Consul 8500, routers 8080 8081, Envoys 10000 10001 (admin 9901 9902), control plane 8090,\nxDS 18000, supervisor control 8099, cells from 9100 (green instances +50).\nSee docs/operators.md.',
    )
    .action(async (f: Flags, cmd: Command) => {
      const dataDir = resolve(f.data);
      // cmd.error prints the message; an error thrown from an action would exit 1 silently (bin/run-command.ts).
      const split = splitChoice(f.splitCells, f.cells, f.log, dataDir);
      if (!split.ok) cmd.error(split.error, { code: 'usage' });
      const hosts = f.hosts ? await planHosts(f.cells) : undefined;
      mkdirSync(dataDir, { recursive: true });
      const tokens = ensureTokenFiles(dataDir);
      // Under --hosts each certificate also names the addresses of its component's hosts.
      const certs = await ensureCertificates(tlsDir(dataDir), topologyLeaves(cellIds(f.cells), hosts ? leafAddresses(hosts) : {}));
      const versionsFile = join(dataDir, 'versions.json');
      if (!existsSync(versionsFile)) writeFileSync(versionsFile, `${JSON.stringify(DEFAULT_VERSIONS, null, 2)}\n`);
      const cfg: TopologyConfig = {
        dataDir,
        cells: f.cells,
        ports: hosts
          ? { ...portPlan(f.basePort), supervisor: (await freePorts(1))[0]! }
          : f.anyPorts
            ? await freePortPlan(f.cells)
            : portPlan(f.basePort),
        persist: f.persist === true,
        prefix: f.prefix,
        tokenFiles: tokens.paths,
        holdMs: f.holdMs,
        initialVersion: TOPOLOGY_DEFAULTS.initialVersion,
        logLevel: f.logLevel,
        hosts,
        tls: f.tls === true,
        log: f.log,
        ...(split.ok && split.splitCells ? { splitCells: split.splitCells } : {}),
      };
      const log = createLogger('supervisor');
      const out = (line: string) => process.stdout.write(`${line}\n`);
      const sup = new Supervisor(cfg, log, (line) => out(`cellctl up: ${line}`));
      let stopping: Promise<void> | undefined;
      const shutdown = () => {
        if (stopping) {
          out('cellctl up: stopping already; Ctrl-C again in a moment forces exit');
          process.once('SIGINT', () => process.exit(130));
          return;
        }
        out('cellctl up: stopping every component');
        stopping = sup.stop().then(() => void out('cellctl up: stopped'));
      };
      process.on('SIGINT', shutdown);
      process.on('SIGTERM', shutdown);
      try {
        await sup.start();
      } catch (err) {
        out(`cellctl up: failed to start: ${(err as Error).message}`);
        process.exitCode = 1;
        return;
      }
      if (stopping) return void (await stopping);
      out(statusTable(sup.describe()));
      if (tokens.created.length > 0) {
        out(`Tokens made (${tokens.created.join(', ')}), one file each, mode 0600: ${join(dataDir, 'tokens')}/`);
        out(`  operator commands read ${tokens.paths.operator} through --data; see docs/security.md\n`);
      }
      if (certs.issued.length > 0) out(`Certificates made (${certs.issued.join(', ')}), keys mode 0600: ${certs.dir}/\n`);
      out(firstSteps(sup.describe(), dataDir));
      out('cellsim is up. Ctrl-C stops everything.');
      await new Promise<void>((r) => {
        const wait = setInterval(() => {
          if (stopping) {
            clearInterval(wait);
            void stopping.then(r);
          }
        }, 100);
      });
    });
}
