/**
 * The split roles of a cell on Kafka (`cellctl cell --role order|delivery`,
 * docs/kafka.md §Order and delivery services). The order service serves the order API, relays
 * its outbox to the orders topic and, under the background lease, consumes the deliveries topic
 * (group `order`) to move its orders. The delivery service consumes the orders topic as a member of group
 * `delivery` (every instance, outside the lease: the broker shares the partitions out), keeps
 * deliveries and sagas in its own database, and under the lease runs the saga and relays its
 * outbox of delivery events to the deliveries topic.
 */
import type { Logger } from '../shared/logger.js';
import type { BackgroundParts } from './background.js';
import type { CellConfig } from './config.js';
import { KeyOrderedConsumer } from './consumer/consumer.js';
import { GroupConsumer } from './consumer/group-consumer.js';
import { DELIVERY_GROUP } from './context.js';
import type { Db } from './db/open.js';
import { DependencyGuard } from './delivery/breaker.js';
import { CourierService } from './delivery/courier.js';
import { emitDeliveryEvent } from './delivery/events.js';
import type { FaultRegistry } from './faults/registry.js';
import { KafkaLog, topicName } from './log/kafka-log.js';
import { groupLag } from './log/types.js';
import { PollLoop } from './loop.js';
import type { CellMetrics } from './metrics.js';
import { orderSideHandler } from './orders/delivery-handler.js';
import { relayOnce } from './outbox/relay.js';
import { raiseAlert } from './reconcile/alert.js';
import { consulDeliveryUrls, deliveryReader } from './reconcile/delivery-client.js';
import type { ReconcileReport } from './reconcile/reconcile.js';
import { reconcileSplit } from './reconcile/split.js';
import { mirroredDeliveryHandler } from './saga/mirror.js';
import { SagaOrchestrator } from './saga/orchestrator.js';

/** What a cell process runs: everything (`all`, the default), or one service of a cell on Kafka. */
export type CellRole = 'all' | 'order' | 'delivery';

/** The consumer group of the order service on the deliveries topic. */
export const ORDER_GROUP = 'order';

/** The two topics of a split cell: order events (the order service writes) and delivery events (the delivery service writes). */
export interface RoleLogs {
  orders: KafkaLog;
  deliveries: KafkaLog;
}

/** Opens both topics of a split cell (creating them with `config.partitions` unless they exist). */
export async function openRoleLogs(config: CellConfig): Promise<RoleLogs> {
  if (!config.kafka?.length) throw new Error(`--role ${config.role} needs --log kafka --kafka <host:port,...>`);
  const open = (entity: 'orders' | 'deliveries') =>
    KafkaLog.open({
      brokers: config.kafka!,
      topic: topicName(config.id, entity),
      partitions: config.partitions,
      clientId: `cellsim-${config.id}-${config.role}-${config.port}-${entity}`,
    });
  const orders = await open('orders');
  try {
    return { orders, deliveries: await open('deliveries') };
  } catch (err) {
    await orders.close();
    throw err;
  }
}

/** What the role builders share with the cell. */
export interface RoleDeps {
  config: CellConfig;
  db: Db;
  logs: RoleLogs;
  faults: FaultRegistry;
  metrics: CellMetrics;
  logger: Logger;
}

/** A role's parts: the lease-guarded ones, and a consumer-group member that runs for the life of the process. */
export interface RoleParts {
  parts: BackgroundParts;
  member?: GroupConsumer;
  /** The order service's reconciliation of the two databases, run now (`POST /admin/reconcile`). */
  reconcileNow?: () => Promise<ReconcileReport>;
  /** Closes what the role holds besides its parts (the delivery client's connections). */
  close?: () => Promise<void>;
}

/**
 * The order service: relay to the orders topic; the deliveries topic's consumer moves the orders;
 * reconciliation against the delivery service (found by `--delivery-url` or in Consul) every
 * `--reconcile-interval` (cells/reconcile/split.ts).
 */
export function orderRole(d: RoleDeps): RoleParts {
  const { config, db, logs, metrics, logger } = d;
  const consumer = new KeyOrderedConsumer({
    log: logs.deliveries,
    group: ORDER_GROUP,
    workers: config.workers,
    handler: orderSideHandler({ db, metrics }),
    pollMs: config.pollMs * 5,
    logger,
  });
  const relay = new PollLoop('relay', () => relayed(db, logs.orders, metrics), config.pollMs, logger);
  const given = config.deliveryUrls;
  const urls = given?.length ? async () => given : config.consul ? consulDeliveryUrls(config.consul, config.id, !!config.tls) : undefined;
  const reader = deliveryReader({ urls: urls ?? (async () => []), token: config.adminToken, tls: config.tls });
  const reconcileNow = async () => {
    const report = await reconcileSplit({
      db,
      reader,
      backlog: async () => (await groupLag(logs.orders, DELIVERY_GROUP)).reduce((a, b) => a + b, 0),
      staleMs: config.reconcileStaleMs,
    });
    if (raiseAlert(report, metrics, logger) > 0) relay.wake();
    return report;
  };
  const reconcile = urls
    ? new PollLoop(
        'reconcile',
        async () => {
          await reconcileNow();
          return 0;
        },
        config.reconcileIntervalMs,
        logger,
      )
    : undefined;
  return { parts: { relay, consumer, ...(reconcile ? { reconcile } : {}) }, reconcileNow, close: () => reader.close() };
}

/** The delivery service: a group member on the orders topic; saga and relay to the deliveries topic. */
export function deliveryRole(d: RoleDeps): RoleParts {
  const { config, db, logs, metrics, logger } = d;
  const guard = new DependencyGuard({
    name: 'delivery',
    onStateChange: (open) => metrics.breakerState.set({ dependency: 'delivery' }, open ? 1 : 0),
  });
  const orchestrator = new SagaOrchestrator({
    db,
    courier: new CourierService(d.faults, config.assignDelayMs),
    guard,
    metrics,
    logger,
    pickupAfterMs: config.pickupAfterMs,
    deliverAfterMs: config.deliverAfterMs,
    emit: (e, now) => emitDeliveryEvent(db, e, now),
  });
  const saga = new PollLoop('saga', () => orchestrator.tick(), config.pollMs, logger);
  const relay = new PollLoop('relay', () => relayed(db, logs.deliveries, metrics), config.pollMs, logger);
  const handle = mirroredDeliveryHandler({ db, metrics, assignDeadlineMs: config.assignDeadlineMs });
  const member = new GroupConsumer({
    brokers: config.kafka!,
    topic: topicName(config.id, 'orders'),
    group: DELIVERY_GROUP,
    clientId: `cellsim-${config.id}-delivery-${config.port}`,
    workers: config.workers,
    handler: async (rec) => {
      await versionDefect(d.faults);
      await handle(rec);
      saga.wake();
    },
    logger,
  });
  return { parts: { relay, saga, orchestrator }, member };
}

/**
 * A delivery version's deliberate defect on its work (`route: "delivery"`): added latency, then a
 * failure at its error rate; the consumer retries a failed record, so a rate of 1 stalls it.
 */
async function versionDefect(faults: FaultRegistry): Promise<void> {
  const d = faults.eventDefect();
  if (!d) return;
  if (d.latencyMs) await new Promise((r) => setTimeout(r, d.latencyMs));
  if (d.errorRate !== undefined && Math.random() < d.errorRate) throw new Error('defect of this version: order event refused');
}

async function relayed(db: Db, log: KafkaLog, metrics: CellMetrics): Promise<number> {
  const n = await relayOnce(db, log);
  if (n > 0) metrics.relayed.inc(n);
  return n;
}
