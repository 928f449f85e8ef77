/** Every drill, by name. */
import { badGreenStep } from './bad-green.js';
import { CELL_DRILLS } from './cell-faults.js';
import { CELL_LOSS } from './cell-loss.js';
import { COMPONENT_DRILLS } from './components.js';
import { edgeConsulPartition } from './edge-partition.js';
import { EXTERNAL_KILL } from './external-kill.js';
import { DELIVERY_DOWN } from './delivery-down.js';
import { KAFKA_BROKER_DOWN } from './kafka-broker-down.js';
import { NETWORK_DRILLS } from './network.js';
import { OPERATION_DRILLS } from './operations.js';
import { SOAK } from './soak.js';
import { splitBrainMigration } from './split-brain.js';
import type { Drill } from './types.js';

/** The drills in the order `cellctl drill --help` lists them. */
export const DRILLS: Drill[] = [
  ...CELL_DRILLS,
  CELL_LOSS,
  ...COMPONENT_DRILLS,
  EXTERNAL_KILL,
  KAFKA_BROKER_DOWN,
  DELIVERY_DOWN,
  ...OPERATION_DRILLS,
  badGreenStep,
  SOAK,
  ...NETWORK_DRILLS,
  edgeConsulPartition,
  splitBrainMigration,
];

/** The drill called `name`, or undefined. */
export function findDrill(name: string): Drill | undefined {
  return DRILLS.find((d) => d.name === name);
}
