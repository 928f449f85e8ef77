/**
 * The port plan of a local topology (docs/contracts.md §Ports): the defaults, shifted
 * as a whole by `--base-port` (an offset from 8000), or every port taken free (`--any-ports`,
 * for tests and side-by-side runs).
 */
import { createServer } from 'node:net';
import type { ConsulPorts } from '../infra/consul-agent.js';
import { freePorts } from '../infra/ports.js';

/** Every port a topology binds. */
export interface PortPlan {
  consul: ConsulPorts;
  routers: number[];
  envoys: { listen: number; admin: number }[];
  controlPlane: number;
  xds: number;
  supervisor: number;
  /** Blue port of cell i is cellBase + i, green is cellBase + greenOffset + i. */
  cellBase: number;
  greenOffset: number;
  /** Explicit per-cell ports (any-ports mode), blue and green. */
  cells?: { blue: number; green: number }[];
  /** Ports of cells added while the topology runs (`cellctl cells add`), by cell id: always free ports. */
  added?: Record<string, { blue: number; green: number }>;
  /** Under `--log kafka`: each cell's broker (client and controller listener), by cell id (topology/kafka.ts). */
  kafka?: Record<string, { client: number; controller: number }>;
  /** Under `--log kafka`: each cell's delivery instances, by cell id (topology/delivery.ts). */
  delivery?: Record<string, number[]>;
}

/** The default plan shifted so that 8000 maps to `base`. */
export function portPlan(base = 8000, routers = 2, envoys = 2): PortPlan {
  const s = (p: number) => p - 8000 + base;
  return {
    consul: { http: s(8500), serfLan: s(8301), serfWan: s(8302), server: s(8300), grpc: s(8502) },
    routers: Array.from({ length: routers }, (_, i) => s(8080 + i)),
    envoys: Array.from({ length: envoys }, (_, i) => ({ listen: s(10000 + i), admin: s(9901 + i) })),
    controlPlane: s(8090),
    xds: s(18000),
    supervisor: s(8099),
    cellBase: s(9100),
    greenOffset: 50,
  };
}

/** A plan of free ports for `cells` cells. */
export async function freePortPlan(cells: number, routers = 2, envoys = 2): Promise<PortPlan> {
  const p = await freePorts(5 + routers + envoys * 2 + 3 + cells * 2);
  let i = 0;
  const next = () => p[i++]!;
  return {
    consul: { http: next(), serfLan: next(), serfWan: next(), server: next(), grpc: next() },
    routers: Array.from({ length: routers }, next),
    envoys: Array.from({ length: envoys }, () => ({ listen: next(), admin: next() })),
    controlPlane: next(),
    xds: next(),
    supervisor: next(),
    cellBase: 0,
    greenOffset: 0,
    cells: Array.from({ length: cells }, () => ({ blue: next(), green: next() })),
  };
}

/** The port of cell `index`'s `color` instance. */
export function cellPort(plan: PortPlan, index: number, color: 'blue' | 'green'): number {
  const explicit = plan.cells?.[index];
  if (explicit) return explicit[color];
  return plan.cellBase + index + (color === 'green' ? plan.greenOffset : 0);
}

/**
 * True when `port` can be bound on `host` right now, tried the way a child binds it (a Node
 * listener, SO_REUSEADDR): false while another socket listens on it or is bound to it.
 */
export function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}
