/**
 * `cellctl router`: the Node data plane. With `--workers n` (n > 1) the primary process
 * forks n workers that share one listening port (node:cluster, SCHED_NONE: the kernel
 * spreads connections), re-forks a worker that dies, and registers the router in Consul
 * once; each worker follows Consul and serves on its own.
 */
import cluster from 'node:cluster';
import { Command, InvalidArgumentError, Option } from 'commander';
import { neverFromEnv, parseDurationMs, parsePort, parsePositiveInt, parseUrl } from '../shared/cli.js';
import { DEFAULT_PREFIX } from '../shared/kv.js';
import { createLogger } from '../shared/logger.js';
import { serveClusterMetrics } from './cluster-metrics.js';
import { serveClusterViews } from './cluster-views.js';
import { keepRegistered } from './registration.js';
import { startRouter, type RouterOptions } from './main.js';
import { parseDrillSabotage, withDrillSabotage, type DrillSabotage } from './sabotage.js';
import { DEFAULT_TABLE_HEAP_MB } from './table/source.js';
import { readTlsFiles, tlsFilesOf } from '../shared/pki/identity.js';
import { TOKEN_ENV, resolveToken } from '../shared/tokens.js';

interface Flags {
  port: number;
  host: string;
  consul: string;
  snapshot?: string;
  workers: number;
  prefix: string;
  holdMs: number;
  id?: string;
  upstreamTimeout: number;
  maxInflightPerCell: number;
  stallTimeout: number;
  readyWait: number;
  marketShards?: number;
  tableHeapMb: number;
  drillSabotage?: DrillSabotage;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  edgeTls?: boolean;
  routerAdminTokenFile?: string;
}

function onSignals(handler: () => Promise<void>): void {
  let once = false;
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (once) return;
      once = true;
      handler().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
}

async function runPrimary(f: Flags, id: string): Promise<void> {
  const logger = createLogger('router', { router: id, role: 'primary' });
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let stopping = false;
  const fork = (index: number) => {
    const w = cluster.fork({ CELLSIM_ROUTER_WORKER: String(index) });
    w.once('exit', (code, signal) => {
      if (stopping) return;
      logger.error({ worker: index, code, signal }, 'router worker died; starting a new one');
      setTimeout(() => fork(index), 200);
    });
  };
  for (let i = 0; i < f.workers; i++) fork(i);
  serveClusterMetrics();
  serveClusterViews();
  const registration = keepRegistered({ consulUrl: f.consul, id, host: f.host, port: f.port, tls: f.edgeTls === true, logger });
  logger.info({ workers: f.workers, port: f.port }, 'router primary started');
  onSignals(async () => {
    stopping = true;
    await registration.stop();
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            w.once('exit', () => resolve());
            w.process.kill('SIGTERM');
          }),
      ),
    );
  });
}

async function runServer(f: Flags, id: string, register: boolean): Promise<void> {
  const worker = process.env.CELLSIM_ROUTER_WORKER;
  const logger = createLogger('router', { router: id, ...(worker !== undefined ? { worker: Number(worker) } : {}) });
  if (f.marketShards !== undefined)
    logger.warn({ marketShards: f.marketShards }, '--market-shards is ignored: markets are followed through their change log');
  const opts: RouterOptions = {
    port: f.port,
    host: f.host,
    consulUrl: f.consul,
    prefix: f.prefix,
    snapshotPath: f.snapshot,
    tableHeapMb: f.tableHeapMb,
    clusterWorker: cluster.isWorker,
    holdMs: f.holdMs,
    id,
    register,
    upstreamTimeoutMs: f.upstreamTimeout,
    maxInflightPerCell: f.maxInflightPerCell,
    isolation: { stallMs: f.stallTimeout },
    readyWaitMs: f.readyWait,
    upstreamTls: tlsFilesOf(f),
    edgeTls: f.edgeTls,
    routeViewToken: resolveToken('router-admin', f.routerAdminTokenFile),
    logger,
  };
  if (f.drillSabotage) logger.warn({ sabotage: f.drillSabotage }, 'drill sabotage: this router misroutes on purpose and is not registered');
  const router = await startRouter(f.drillSabotage ? withDrillSabotage(opts, f.drillSabotage) : opts);
  onSignals(() => router.close());
}

/**
 * The `cellctl router` command. `--drill-sabotage` (router/sabotage.ts) is hidden: for the extra
 * router `cellctl drill` starts itself, never read from the environment, one process only.
 */
export function command(): Command {
  return new Command('router')
    .description('run the Node router: routes each request by x-market-id to the cell that owns it, as recorded in Consul')
    .requiredOption('--port <port>', 'port to listen on', parsePort)
    .requiredOption('--consul <url>', 'Consul HTTP address, e.g. http://127.0.0.1:8500', parseUrl)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--snapshot <file>', 'last good routing table on disk: written after every change, read at start (static stability)')
    .addOption(new Option('--workers <n>', 'processes sharing the port (node:cluster)').argParser(parsePositiveInt).default(1))
    .option('--prefix <prefix>', 'Consul KV prefix', DEFAULT_PREFIX)
    .addOption(
      // Ignored since markets are followed through their change log (shared/markets/follower.ts); accepted so that scripts keep working.
      new Option('--market-shards <n>', 'ignored (markets are followed through their change log)').argParser(parsePositiveInt).hideHelp(),
    )
    .addOption(
      new Option(
        '--table-heap-mb <mb>',
        "old-generation heap limit of the routing table's worker thread; also keeps its heap within ~1.4x of what it holds (~30 MB at 100,000 markets); past it the worker stops and the router serves its last table, degraded",
      )
        .argParser(parsePositiveInt)
        .default(DEFAULT_TABLE_HEAP_MB),
    )
    .addOption(new Option('--hold-ms <ms>', 'how long a frozen market is held (e.g. 2000, 2s)').argParser(parseDurationMs).default(2000))
    .option('--id <router-id>', 'router id (Consul service cellsim-router-<id>; default router-<port>)')
    .addOption(
      new Option('--upstream-timeout <ms>', 'time to the cell answer headers before 504 upstream_timeout')
        .argParser(parseDurationMs)
        .default(15_000),
    )
    .addOption(
      new Option(
        '--ready-wait <ms>',
        'at start, wait this long for a complete routing table before listening (connections are refused meanwhile)',
      )
        .argParser(parseDurationMs)
        .default(30_000),
    )
    .addOption(
      new Option(
        '--stall-timeout <ms>',
        'a cell with requests waiting and no answer for this long is hung: its breaker opens (keep it above the slowest answer of a working cell; 0: off)',
      )
        .argParser(parseDurationMs)
        .default(750),
    )
    .addOption(
      new Option('--max-inflight-per-cell <n>', 'requests in flight to one cell at most (503 overloaded above)')
        .argParser(parsePositiveInt)
        .default(256),
    )
    .option('--tls-cert <file>', "mutual TLS to the cells: this router's certificate (PEM; with --tls-key and --tls-ca)")
    .option('--tls-key <file>', 'the private key of --tls-cert (PEM)')
    .option('--tls-ca <file>', "the CA certificate a cell's certificate must chain to (PEM)")
    .option('--edge-tls', "serve HTTPS on --port with the router's --tls-cert and --tls-key (clients to the edge)")
    .option(
      '--router-admin-token-file <path>',
      `file holding the token GET /route asks for, the control plane's freeze barrier's (else ${TOKEN_ENV['router-admin']}; without one, /route answers 401)`,
    )
    .addOption(
      neverFromEnv(
        new Option('--drill-sabotage <kind>', 'drills only: one-cell=<cell> | isolation-off').argParser(parseDrillSabotage).hideHelp(),
      ),
    )
    .addHelpText(
      'after',
      '\nListens once a complete table is loaded (or after --ready-wait). Endpoints: /healthz (alive), /readyz (200 once a table is\nloaded from Consul or the snapshot; detail says degraded), /metrics (Prometheus), /route?market= (its view of a market, with the\nrouter-admin token), /v1/* routed. See docs/router.md.',
    )
    .action(async (f: Flags) => {
      const id = f.id ?? `router-${f.port}`;
      if (f.tlsCert || f.tlsKey || f.tlsCa) readTlsFiles(tlsFilesOf(f)!);
      resolveToken('router-admin', f.routerAdminTokenFile); // a bad token file stops the start here, primary included
      if (f.edgeTls && !f.tlsCert) throw new InvalidArgumentError('--edge-tls needs --tls-cert, --tls-key and --tls-ca');
      if (f.drillSabotage && f.workers > 1) throw new InvalidArgumentError('--drill-sabotage runs in one process (--workers 1)');
      if (f.workers > 1 && cluster.isPrimary) await runPrimary(f, id);
      else await runServer(f, id, f.workers <= 1);
    });
}
