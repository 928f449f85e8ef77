/**
 * The console over a large market map, shared by control-plane/ui/scale.test.ts and
 * `npm run bench:console` (./index.ts): a real Consul holding `markets` market records
 * (`m-000000` …, seeded by loadtest/bench/propagation-rig.ts; 100 of them frozen),
 * the real control plane (`cellctl control-plane`) following them and serving the console, and
 * Debian's chromium driven by playwright-core (infra/browser.ts), logged in as an operator.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { requireChromium } from '../../../infra/browser.js';
import { startConsul } from '../../../infra/harness/consul.js';
import { seedKv } from '../../../infra/harness/echo-cell.js';
import { waitFor, type ProcessScope } from '../../../infra/process.js';
import { benchConsul, marketId, SEED_EPOCH, seededCell, seedMarkets, xdsFollower } from '../../../loadtest/bench/propagation-rig.js';
import { txnSet } from '../../../shared/consul/client.js';
import { startControlPlane, type TestControlPlane } from '../../xds/testing.js';

/** The operator token the control plane is started with. */
const OPERATOR = 'console-scale-operator-token-1';

/**
 * The frozen markets of a map of `markets`: 100 evenly spread (every 1000th from m-000007 at
 * 100,000, every 10th from m-000007 at 1,000), so the `frozen` filter finds a page of 100 at
 * every size of 100 or more.
 */
export function frozenMarkets(markets: number): number[] {
  const step = Math.max(1, Math.floor(markets / 100));
  const out: number[] = [];
  for (let i = 7 % step; i < markets && out.length < 100; i += step) out.push(i);
  return out;
}

/** A running Consul and control plane holding the map. */
export interface ConsoleRig {
  markets: number;
  cp: TestControlPlane;
  /** The control plane's HTTP URL, which serves `/ui/`. */
  base: string;
  /** Seed written → the control plane's follower holds every market, s. */
  heldS: number;
}

/**
 * Starts a Consul, seeds cell-a and cell-b and `markets` markets (cells alternating, the
 * {@link frozenMarkets} frozen), starts the control plane with the {@link OPERATOR} token and
 * waits until its follower holds them all. Every process is owned by `scope`.
 */
export async function startConsoleRig(scope: ProcessScope, o: { markets: number; name: string }): Promise<ConsoleRig> {
  const consul = await startConsul({ name: `${o.name}-consul` });
  scope.adopt(consul.proc);
  await seedKv(consul.url, { cells: { 'cell-a': {}, 'cell-b': {} } });
  await seedMarkets(consul.url, 0, o.markets);
  const frozen = frozenMarkets(o.markets).map((i) =>
    txnSet(`cellsim/markets/${marketId(i)}`, JSON.stringify({ cell: seededCell(i), state: 'frozen', epoch: SEED_EPOCH })),
  );
  for (let i = 0; i < frozen.length; i += 64) {
    const r = await benchConsul(consul.url).kv.txn(frozen.slice(i, i + 64));
    if (!r.ok) throw new Error(`frozen markets not written: ${r.errors.map((e) => e.what).join('; ')}`);
  }
  const t0 = performance.now();
  const cp = await startControlPlane(scope, {
    consulUrl: consul.url,
    id: `cp-${o.name}`,
    testHooks: false,
    logLevel: 'warn',
    env: { CELLSIM_OPERATOR_TOKEN: OPERATOR },
  });
  await waitFor(
    async () => (await xdsFollower(cp))?.markets === o.markets,
    120_000,
    () => `the control plane to hold ${o.markets} markets`,
    200,
  );
  return { markets: o.markets, cp, base: cp.httpUrl, heldS: (performance.now() - t0) / 1000 };
}

/** Debian's chromium, headless (throws one clear line when it is missing). */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: requireChromium(), headless: true, args: ['--no-sandbox'] });
}

/** A page of a new browser context (its own cookies), logged in to the console at `base` as the operator. */
export async function openConsole(browser: Browser, base: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${base}/ui/login`);
  await page.fill('#token', OPERATOR);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#cells');
  return page;
}

/** Opens `url` in `page` and returns its first contentful paint, ms from the navigation's start. */
export async function firstPaint(page: Page, url: string): Promise<number> {
  await page.goto(url);
  // The paint entry is recorded a moment after the load event.
  for (let i = 0; i < 50; i++) {
    const ms = await page.evaluate<number>("performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1");
    if (ms > 0) return ms;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${url}: no first-contentful-paint entry within 1 s of its load event`);
}
