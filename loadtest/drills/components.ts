/**
 * Infrastructure drills: a data-plane replica dies (only its in-flight requests may fail), Consul
 * or the control plane is down for the window (routing continues from the last good table: no
 * request may fail).
 */
import type { Plane } from '../plan.js';
import type { Drill, DrillContext } from './types.js';

function replicaKill(plane: Exclude<Plane, 'direct'>): Drill {
  const pickReplica = (ctx: DrillContext) => {
    const replicas = ctx.env.targets([plane]).map((t) => t.replica);
    const victim = replicas[replicas.length - 1];
    if (!victim || replicas.length < 2) throw new Error(`${plane}-replica-kill needs 2 ${plane} replicas, found ${replicas.length}`);
    return victim;
  };
  return {
    name: `${plane}-replica-kill`,
    description: `Kill one of the two ${plane} replicas (SIGKILL) under load, keep it down for the window, bring it back. Only requests in flight on it may fail.`,
    defaultPlanes: [plane],
    faultCells: () => [],
    expectations: () => ({ zeroFailed: true, spillZero: true }),
    // In-flight failures are allowed, so the gate caps only the total; the analysis separates them.
    gates: () => [{ scope: 'all', maxShare: 0.05 }],
    async inject(ctx) {
      const victim = pickReplica(ctx);
      await ctx.env.killAndHold(victim);
      ctx.mark(`${victim} killed and held down`);
      return { killedReplica: victim };
    },
    async heal(ctx) {
      const victim = pickReplica(ctx);
      ctx.mark(`${victim} released for restart`);
      await ctx.env.restart(victim);
      ctx.mark(`${victim} ready again`);
    },
  };
}

function outage(component: 'consul' | 'control-plane', description: string): Drill {
  return {
    name: `${component}-outage`,
    description,
    faultCells: () => [],
    expectations: () => ({ zeroFailed: true, spillZero: true }),
    gates: () => [{ scope: 'all', maxShare: 0 }],
    preflight(env) {
      if (component === 'consul' && env.consulPersistent?.() === false) {
        throw new Error('consul-outage needs a persistent Consul (cellctl up --persist): a dev agent restarts with an empty KV store');
      }
    },
    async inject(ctx) {
      await ctx.env.killAndHold(component);
      ctx.mark(`${component} killed and held down`);
      return undefined;
    },
    async heal(ctx) {
      ctx.mark(`${component} released for restart`);
      await ctx.env.restart(component);
      ctx.mark(`${component} ready again`);
    },
  };
}

/** Replica kills and outages. */
export const COMPONENT_DRILLS: Drill[] = [
  replicaKill('router'),
  replicaKill('envoy'),
  outage('consul', 'Stop Consul for the window: routers and the xDS server keep routing from their last good table.'),
  outage('control-plane', 'Stop the control plane (xDS server and admin API) for the window: Envoy keeps its last configuration.'),
];
