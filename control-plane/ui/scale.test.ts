/**
 * The console at 100,000 markets, in Debian's chromium: every page's first contentful paint under
 * 1 s, the Markets page's search, filter and last page cut on the server, and ten more open
 * consoles cost the control plane at most 20 MB of RSS. A real Consul holds
 * 100,000 market records (100 of them frozen) and the real control plane (`cellctl
 * control-plane`) follows them and serves the console; the figure is the whole stack's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { requireChromium } from '../../infra/browser.js';
import { readRssKb } from '../../infra/procs.js';
import { startConsul } from '../../infra/harness/consul.js';
import { seedKv } from '../../infra/harness/echo-cell.js';
import { ProcessScope, waitFor } from '../../infra/process.js';
import { benchConsul, marketId, SEED_EPOCH, seededCell, seedMarkets, xdsFollower } from '../../loadtest/bench/propagation-rig.js';
import { txnSet } from '../../shared/consul/client.js';
import { findDescendant } from '../xds/bench/measure.js';
import { startControlPlane, type TestControlPlane } from '../xds/testing.js';

const MARKETS = 100_000;
const OPERATOR = 'console-scale-operator-token-1';
/** Every 1000th market (m-000007, m-001007, …) is frozen: 100 in all. */
const FROZEN = Array.from({ length: MARKETS / 1000 }, (_, k) => k * 1000 + 7);

describe('console at 100,000 markets in chromium, over the real Consul and control plane', () => {
  const scope = new ProcessScope();
  let browser: Browser;
  let page: Page;
  let cp: TestControlPlane;
  let base: string;

  before(async () => {
    const executablePath = requireChromium();
    const consul = await startConsul({ name: 'console-scale-consul' });
    scope.adopt(consul.proc);
    await seedKv(consul.url, { cells: { 'cell-a': {}, 'cell-b': {} } });
    await seedMarkets(consul.url, 0, MARKETS);
    const frozen = FROZEN.map((i) =>
      txnSet(`cellsim/markets/${marketId(i)}`, JSON.stringify({ cell: seededCell(i), state: 'frozen', epoch: SEED_EPOCH })),
    );
    for (let i = 0; i < frozen.length; i += 64)
      assert.ok((await benchConsul(consul.url).kv.txn(frozen.slice(i, i + 64))).ok, 'frozen markets written');
    cp = await startControlPlane(scope, {
      consulUrl: consul.url,
      id: 'cp-console-scale',
      testHooks: false,
      logLevel: 'warn',
      env: { CELLSIM_OPERATOR_TOKEN: OPERATOR },
    });
    base = cp.httpUrl;
    await waitFor(
      async () => (await xdsFollower(cp))?.markets === MARKETS,
      120_000,
      () => `the control plane to hold ${MARKETS} markets`,
      200,
    );
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
    page = await (await browser.newContext()).newPage();
    await page.goto(`${base}/ui/login`);
    await page.fill('#token', OPERATOR);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#cells');
  });
  after(async () => {
    await browser?.close();
    await scope.close();
  });

  const paint = async (path: string): Promise<number> => {
    await page.goto(`${base}${path}`);
    // The paint entry is recorded a moment after the load event.
    for (let i = 0; i < 50; i++) {
      const ms = await page.evaluate<number>("performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1");
      if (ms > 0) return ms;
      await new Promise((r) => setTimeout(r, 20));
    }
    return -1;
  };

  it('paints every page in under 1 s', async () => {
    const pages = [
      '/ui/',
      '/ui/markets',
      '/ui/markets?q=m-09999',
      '/ui/markets?state=frozen',
      '/ui/markets?cell=cell-b&page=300',
      '/ui/operations',
      '/ui/audit',
    ];
    const figures: string[] = [];
    for (const path of pages) {
      await paint(path); // a warm cache for the shared static files, as a second visit has
      const ms = await paint(path);
      figures.push(`${path} ${ms.toFixed(0)} ms`);
      assert.ok(ms > 0 && ms < 1000, `${path}: first paint ${ms} ms`);
    }
    process.stdout.write(`# first contentful paint at ${MARKETS} markets: ${figures.join(', ')}\n`);
  });

  it('cuts the market map on the server: counts, search, state filter and the last page', async () => {
    await page.goto(`${base}/ui/markets`);
    assert.match((await page.textContent('#market-count')) ?? '', /^100,000 markets match · page 1 of 1000$/);
    assert.equal(await page.locator('#markets tbody tr').count(), 100);
    await page.goto(`${base}/ui/markets?q=m-09999`);
    assert.equal(await page.locator('#markets tbody tr').count(), 10); // m-099990 … m-099999
    await page.goto(`${base}/ui/markets?state=frozen`);
    assert.match((await page.textContent('#market-count')) ?? '', /^100 markets match/);
    assert.equal(await page.locator('#markets tbody tr.frozen').count(), 100);
    await page.goto(`${base}/ui/markets?page=1000`);
    assert.equal(await page.locator('#markets tbody tr').last().getAttribute('data-market'), 'm-099999');
    assert.equal(await page.locator('#next-page').count(), 0);
  });

  it('holds ten more open consoles (Overview, live, after a Markets page each) with at most 20 MB more RSS in the control plane', async () => {
    const pid = findDescendant(cp.proc.pid, 'node'); // under the process's watchdog shell
    assert.ok(pid, 'the control plane process');
    const rssMb = () => (readRssKb(pid) ?? NaN) / 1024;
    await page.goto(`${base}/ui/`);
    await page.waitForSelector('#conn.up', { timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 3000));
    const before = rssMb();
    const pages: Page[] = [];
    for (let i = 0; i < 10; i++) {
      const p = await (await browser.newContext()).newPage();
      await p.goto(`${base}/ui/login`);
      await p.fill('#token', OPERATOR);
      await p.click('#login button[type=submit]');
      await p.goto(`${base}/ui/markets?page=${1 + i * 97}`);
      await p.goto(`${base}/ui/`);
      pages.push(p);
    }
    for (const p of pages) await p.waitForSelector('#conn.up', { timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 10_000));
    const after = rssMb();
    process.stdout.write(
      `# control plane RSS at ${MARKETS} markets: 1 console ${before.toFixed(1)} MB, 11 consoles ${after.toFixed(1)} MB\n`,
    );
    assert.ok(after - before <= 20, `RSS grew ${(after - before).toFixed(1)} MB`);
    for (const p of pages) await p.context().close();
  });
});
