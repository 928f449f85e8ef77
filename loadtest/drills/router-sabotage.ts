/**
 * The router sabotage switches (`--router-one-cell`, `--router-isolation-off`): the run's router
 * plane is one extra router replica the drill starts itself on a free port, with the hidden
 * `--drill-sabotage` option of `cellctl router` (router/sabotage.ts), and stops after the run
 * whatever happens. The topology's own routers are neither restarted nor reconfigured, and the
 * extra one is not registered in Consul: nothing but this run's traffic ever reaches it.
 */
import type { DrillEnv, ExtraRouter } from '../env/types.js';
import type { Plane } from '../plan.js';
import { SABOTAGE_FLAGS } from './sabotage.js';
import type { DrillOptions } from './types.js';

/** The id of the extra router (its replica name in the report). */
export const SABOTAGE_ROUTER_ID = 'drill-sabotage-router';

/** What the extra router is started with, and the timeline line that says so. */
export interface RouterSabotagePlan {
  /** `cellctl router` arguments. */
  args: string[];
  /** What it does wrong, for the report's timeline. */
  what: string;
}

/**
 * The extra router of `opts`, or undefined when no router switch is on. `--router-one-cell` sends
 * every market to the first cell that is not faulted (so its answers are 2xx from the wrong cell,
 * not errors); `--router-isolation-off` turns the router's hang isolation off (sabotage.ts
 * refuses both in one run). Throws when no cell is left to misroute to.
 */
export function routerSabotagePlan(opts: DrillOptions, cells: string[], faultCells: string[]): RouterSabotagePlan | undefined {
  if (opts.routerOneCell) {
    const cell = cells.find((c) => !faultCells.includes(c));
    if (cell === undefined)
      throw new Error(`${SABOTAGE_FLAGS.routerOneCell}: every cell is faulted (${cells.join(', ')}); none is left to misroute to`);
    return { args: ['--drill-sabotage', `one-cell=${cell}`], what: `every market routed to ${cell}` };
  }
  if (opts.routerIsolationOff) {
    return {
      args: ['--drill-sabotage', 'isolation-off'],
      what: 'hang isolation off (stall detection disabled: a hung cell is never cut off)',
    };
  }
  return undefined;
}

/** `env` with its router plane replaced by `router` (every other plane and lever unchanged). */
export function withRouterPlane(env: DrillEnv, router: ExtraRouter): DrillEnv {
  const targets = (planes: Plane[]) => [
    ...(planes.includes('router') ? [router.target] : []),
    ...env.targets(planes.filter((p) => p !== 'router')),
  ];
  return new Proxy(env, {
    get(t, key) {
      if (key === 'targets') return targets;
      const v: unknown = Reflect.get(t, key);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

/** A sabotaged router plane: the env to run on, and how to stop the extra router. */
export interface SabotagedRouter {
  env: DrillEnv;
  /** The timeline line of what was started. */
  note: string;
  stop(): Promise<void>;
}

/** Starts the extra router `opts` asks for (undefined when none); the caller must `stop()` it. */
export async function startSabotagedRouter(env: DrillEnv, opts: DrillOptions, faultCells: string[]): Promise<SabotagedRouter | undefined> {
  const plan = routerSabotagePlan(opts, env.cells(), faultCells);
  if (!plan) return undefined;
  if (!env.startExtraRouter) throw new Error('router sabotage needs an environment that can start an extra router (a cellctl up topology)');
  const router = await env.startExtraRouter(SABOTAGE_ROUTER_ID, plan.args);
  const flag = SABOTAGE_FLAGS[opts.routerOneCell ? 'routerOneCell' : 'routerIsolationOff'];
  return {
    env: withRouterPlane(env, router),
    note: `sabotage (${flag}): the router plane is ${SABOTAGE_ROUTER_ID} alone (${router.target.url}, not in Consul): ${plan.what}`,
    stop: () => router.stop(),
  };
}
