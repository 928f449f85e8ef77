/** Prometheus metrics (prom-client): one registry per process, default process metrics included. */
import { Registry, collectDefaultMetrics } from 'prom-client';

/** Creates a registry with Node's default process metrics and a `component` label. */
export function createRegistry(component: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  collectDefaultMetrics({ register: registry });
  return registry;
}
