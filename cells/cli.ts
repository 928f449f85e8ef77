/** `cellctl cell`: runs one cell process. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseDurationMs, parsePort, parsePositiveInt, parseUrl } from '../shared/cli.js';
import { CellIdSchema } from '../shared/kv.js';
import { DefectSchema, type Defect } from '../shared/defect.js';
import { TOKEN_ENV, resolveToken } from '../shared/tokens.js';
import { DEFAULTS, makeConfig } from './config.js';
import { runCell } from './server.js';
import { tlsFilesOf } from '../shared/pki/identity.js';

function parseCellId(v: string): string {
  const r = CellIdSchema.safeParse(v);
  if (!r.success) throw new InvalidArgumentError(`'${v}' is not a cell id (^[a-z0-9][a-z0-9-]{0,62}$)`);
  return v;
}

function parseDefect(v: string): Defect {
  let raw: unknown;
  try {
    raw = JSON.parse(v);
  } catch {
    throw new InvalidArgumentError(`--defect is not JSON: ${v}`);
  }
  const r = DefectSchema.safeParse(raw);
  if (!r.success)
    throw new InvalidArgumentError(`--defect: ${r.error.issues.map((i) => `${i.path.join('.') || '(value)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** `host:port[,host:port...]`: Kafka bootstrap brokers. */
export function parseBrokers(v: string): string[] {
  const list = v.split(',').map((s) => s.trim());
  for (const b of list) {
    if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(b) || Number(b.split(':')[1]) > 65535) {
      throw new InvalidArgumentError(`--kafka: '${b}' is not host:port`);
    }
  }
  return list;
}

interface Opts {
  id: string;
  port: number;
  data: string;
  host: string;
  consul?: string | false;
  version: string;
  color: 'blue' | 'green';
  cellAdminTokenFile?: string;
  partitions: number;
  log: 'sqlite' | 'kafka';
  kafka?: string[];
  role: 'all' | 'order' | 'delivery';
  deliveryUrl?: string[];
  workers: number;
  defect?: Defect;
  prefix: string;
  assignDelay: number;
  pickupAfter: number;
  deliverAfter: number;
  assignDeadline: number;
  leaseTtl: number;
  reconcileInterval: number;
  reconcileStale: number;
  shutdownTimeout: number;
  drainDelay: number;
  importHold: number;
  backupDir?: string;
  backupInterval: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

/** The `cell` command module. */
export function command(): Command {
  const ms = (n: number) => `${n}ms`;
  return new Command('cell')
    .description('run one cell: order API, outbox, log, delivery consumer, saga, reconciliation, faults, market export/import')
    .requiredOption('--id <cell>', 'cell id (e.g. cell-1)', parseCellId)
    .requiredOption('--port <port>', 'HTTP port (0 = any free port)', parsePort)
    .requiredOption('--data <dir>', "the cell's own data directory (SQLite file inside)")
    .option('--host <host>', 'address to listen on and register', DEFAULTS.host)
    .option('--consul <url>', 'Consul HTTP URL to register with (omit to not register)', parseUrl)
    .option('--no-consul', 'do not register in Consul')
    .option('--version <version>', 'version label (Consul meta)', DEFAULTS.version)
    .addOption(new Option('--color <color>', 'blue/green color (Consul meta)').choices(['blue', 'green']).default(DEFAULTS.color))
    .option(
      '--cell-admin-token-file <path>',
      `file holding the bearer token of the /admin API (else ${TOKEN_ENV['cell-admin']}; the admin API is refused without one)`,
    )
    .option('--partitions <n>', 'log partitions (fixed at first start of a data dir)', parsePositiveInt, DEFAULTS.partitions)
    .addOption(
      new Option('--log <backend>', 'event log: the cell database, or a Kafka cluster (with --kafka)')
        .choices(['sqlite', 'kafka'])
        .default(DEFAULTS.log),
    )
    .option('--kafka <brokers>', 'Kafka bootstrap brokers, host:port[,host:port...] (with --log kafka)', parseBrokers)
    .addOption(
      new Option(
        '--role <role>',
        'what this process runs: the whole cell, or (with --log kafka) its order service (API, outbox, relay) or its delivery service (consumer-group member, couriers, saga; own --data)',
      )
        .choices(['all', 'order', 'delivery'])
        .default(DEFAULTS.role),
    )
    .option(
      '--delivery-url <urls>',
      "with --role order: its delivery service's instances, url[,url...], read by reconciliation (default: the cell's cellsim-delivery instances in Consul)",
      (v: string) => v.split(',').map((u) => parseUrl(u.trim())),
    )
    .option('--workers <n>', 'delivery consumer concurrency', parsePositiveInt, DEFAULTS.workers)
    .option('--defect <json>', 'a deliberate defect of this version, e.g. {"route":"POST /v1/orders","errorRate":0.2}', parseDefect)
    .option('--prefix <prefix>', 'Consul KV prefix', DEFAULTS.prefix)
    .option('--assign-delay <duration>', 'simulated courier assignment time', parseDurationMs, DEFAULTS.assignDelayMs)
    .option('--pickup-after <duration>', 'CONFIRMED → DELIVERING after', parseDurationMs, DEFAULTS.pickupAfterMs)
    .option('--deliver-after <duration>', 'DELIVERING → DELIVERED after', parseDurationMs, DEFAULTS.deliverAfterMs)
    .option(
      '--assign-deadline <duration>',
      'compensate when delivery stays unavailable this long',
      parseDurationMs,
      DEFAULTS.assignDeadlineMs,
    )
    .option('--lease-ttl <duration>', 'background-work lease TTL (takeover time after a crash)', parseDurationMs, DEFAULTS.leaseTtlMs)
    .option('--reconcile-interval <duration>', 'scheduled reconciliation interval', parseDurationMs, DEFAULTS.reconcileIntervalMs)
    .option(
      '--reconcile-stale <duration>',
      'age before a PENDING order without delivery is repaired',
      parseDurationMs,
      DEFAULTS.reconcileStaleMs,
    )
    .option('--shutdown-timeout <duration>', 'graceful shutdown bound', parseDurationMs, DEFAULTS.shutdownTimeoutMs)
    .option('--drain-delay <duration>', 'on shutdown, keep serving this long after deregistering', parseDurationMs, DEFAULTS.drainDelayMs)
    .option(
      '--import-hold <duration>',
      'after an import, imported sagas and reconciliation of the market wait this long',
      parseDurationMs,
      DEFAULTS.importHoldMs,
    )
    .option('--backup-dir <dir>', 'keep a continuous copy of the database there (SQLite online backup), outside --data')
    .option('--backup-interval <duration>', 'a copy every this long: the recovery point', parseDurationMs, DEFAULTS.backupIntervalMs)
    .option(
      '--tls-cert <file>',
      "serve HTTPS with this certificate (PEM; with --tls-key and --tls-ca): /v1 then answers only a router's or an Envoy's client certificate",
    )
    .option('--tls-key <file>', 'the private key of --tls-cert (PEM)')
    .option('--tls-ca <file>', 'the CA certificate that client certificates must chain to (PEM)')
    .addHelpText(
      'after',
      `\nDefaults: ${ms(DEFAULTS.assignDelayMs)} assign, ${ms(DEFAULTS.pickupAfterMs)} pickup, ${ms(DEFAULTS.deliverAfterMs)} deliver.`,
    )
    .action(async (o: Opts, cmd: Command) => {
      if (o.log === 'kafka' && !o.kafka) cmd.error('error: --log kafka needs --kafka <host:port[,host:port...]>', { code: 'usage' });
      if (o.log !== 'kafka' && o.kafka) cmd.error('error: --kafka is for --log kafka', { code: 'usage' });
      if (o.role !== 'all' && o.log !== 'kafka')
        cmd.error(`error: --role ${o.role} needs --log kafka (a split cell's services talk through Kafka topics)`, { code: 'usage' });
      if (o.deliveryUrl && o.role !== 'order') cmd.error('error: --delivery-url is for --role order', { code: 'usage' });
      const config = makeConfig({
        id: o.id,
        port: o.port,
        dataDir: o.data,
        host: o.host,
        consul: typeof o.consul === 'string' ? o.consul : undefined,
        version: o.version,
        color: o.color,
        adminToken: resolveToken('cell-admin', o.cellAdminTokenFile),
        partitions: o.partitions,
        log: o.log,
        kafka: o.kafka,
        role: o.role,
        deliveryUrls: o.deliveryUrl,
        workers: o.workers,
        defect: o.defect,
        prefix: o.prefix,
        assignDelayMs: o.assignDelay,
        pickupAfterMs: o.pickupAfter,
        deliverAfterMs: o.deliverAfter,
        assignDeadlineMs: o.assignDeadline,
        leaseTtlMs: o.leaseTtl,
        reconcileIntervalMs: o.reconcileInterval,
        reconcileStaleMs: o.reconcileStale,
        shutdownTimeoutMs: o.shutdownTimeout,
        drainDelayMs: o.drainDelay,
        importHoldMs: o.importHold,
        backupDir: o.backupDir,
        backupIntervalMs: o.backupInterval,
        tls: tlsFilesOf(o),
      });
      await runCell(config);
    });
}
