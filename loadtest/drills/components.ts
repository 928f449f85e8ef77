/**
 * Infrastructure drills: a data-plane replica dies (only its in-flight requests may fail), Consul
 * or the control plane is down for the window (routing continues from the last good table: no
 * request may fail). Each is held to a positive control: the drill probes the killed
 * component's HTTP port through the window, and every probe must go unanswered.
 */
import { watchReachable, type Probe, type ProbeWatch } from '../env/probe.js';
import type { Plane } from '../plan.js';
import { downObserved, type Verdict } from '../verdicts.js';
import type { Drill, DrillContext, Sabotage } from './types.js';

/** The switches a component drill applies: the fault never starts (its positive control must then fail). */
const COMPONENT_SABOTAGE: readonly Sabotage[] = ['faultNeverStarts'];

/** Per run: the probes of the killed component while it was held down. */
interface Held {
  watch?: ProbeWatch;
  probes?: Probe[];
}
const held = new WeakMap<DrillContext, Held>();

/**
 * Kills `component` and holds it down (or, with --fault-never-starts, only says it did not), then
 * probes its HTTP port until {@link release}.
 */
async function killAndProbe(ctx: DrillContext, component: string): Promise<void> {
  const state: Held = {};
  held.set(ctx, state);
  if (ctx.opts.faultNeverStarts) ctx.mark(`sabotage (--fault-never-starts): ${component} NOT killed`);
  else {
    await ctx.env.killAndHold(component);
    ctx.mark(`${component} killed and held down`);
  }
  const url = ctx.env.componentUrl?.(component);
  // Under --tls the topology's own client (its CA trusted), so an up component answers the probe.
  if (url) state.watch = watchReachable(url, { fetch: ctx.env.fetch });
  else ctx.mark(`${component}: no URL to probe (its "fault observed" has no data)`);
}

/** Stops the probes (before the restart: they judge the window only), then lets `component` start again. */
async function release(ctx: DrillContext, component: string): Promise<void> {
  const state = held.get(ctx);
  if (state?.watch) {
    state.probes = await state.watch.stop();
    const down = state.probes.filter((p) => !p.answered).length;
    ctx.mark(`${component}: ${down} of ${state.probes.length} probes of its port unanswered in the window`);
  }
  if (ctx.opts.faultNeverStarts) return;
  ctx.mark(`${component} released for restart`);
  await ctx.env.restart(component);
  ctx.mark(`${component} ready again`);
}

/** The positive control: the component was seen down by the drill's probes through the window. */
const observed = (ctx: DrillContext, component: string): Verdict[] => [downObserved(component, held.get(ctx)?.probes)];

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
    sabotage: COMPONENT_SABOTAGE,
    async inject(ctx) {
      const victim = pickReplica(ctx);
      await killAndProbe(ctx, victim);
      return ctx.opts.faultNeverStarts ? undefined : { killedReplica: victim };
    },
    heal: (ctx) => release(ctx, pickReplica(ctx)),
    verify: async (ctx) => observed(ctx, pickReplica(ctx)),
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
    sabotage: COMPONENT_SABOTAGE,
    async inject(ctx) {
      await killAndProbe(ctx, component);
      return undefined;
    },
    heal: (ctx) => release(ctx, component),
    verify: async (ctx) => observed(ctx, component),
  };
}

/** Replica kills and outages. */
export const COMPONENT_DRILLS: Drill[] = [
  replicaKill('router'),
  replicaKill('envoy'),
  outage('consul', 'Stop Consul for the window: routers and the xDS server keep routing from their last good table.'),
  outage('control-plane', 'Stop the control plane (xDS server and admin API) for the window: Envoy keeps its last configuration.'),
];
