/** Opens the event log a cell's config asks for: undefined for SQLite (the cell makes it on its database), a {@link KafkaLog} for Kafka. */
import type { CellConfig } from '../config.js';
import { KafkaLog, topicName } from './kafka-log.js';
import type { EventLog } from './types.js';

/** The Kafka log of a cell with `log: 'kafka'` (its order events' topic), else undefined. */
export async function openConfiguredLog(config: CellConfig): Promise<EventLog | undefined> {
  if (config.log !== 'kafka') return undefined;
  if (!config.kafka?.length) throw new Error('--log kafka needs --kafka <host:port,...>');
  return KafkaLog.open({
    brokers: config.kafka,
    topic: topicName(config.id, 'orders'),
    partitions: config.partitions,
    clientId: `cellsim-${config.id}-${config.color}`,
  });
}
