/**
 * The console at 100,000 markets, in Debian's chromium: the Markets page's counts, search, state
 * filter and last page cut on the server, and ten more open consoles cost the control plane at
 * most 20 MB of RSS. A real Consul holds 100,000 market records (100 of them frozen) and the real
 * control plane (`cellctl control-plane`) follows them and serves the console (./bench/rig.ts).
 * How fast each page paints, at 100,000 markets against 1,000, is measured by
 * `npm run bench:console` (./bench/index.ts), not asserted here.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { readRssKb } from '../../infra/procs.js';
import { ProcessScope } from '../../infra/process.js';
import { findDescendant } from '../xds/bench/measure.js';
import type { TestControlPlane } from '../xds/testing.js';
import { launchChromium, openConsole, startConsoleRig } from './bench/rig.js';

const MARKETS = 100_000;

describe('console at 100,000 markets in chromium, over the real Consul and control plane', () => {
  const scope = new ProcessScope();
  let browser: Browser;
  let page: Page;
  let cp: TestControlPlane;
  let base: string;

  before(async () => {
    browser = await launchChromium(); // first: a missing chromium fails before anything starts
    ({ cp, base } = await startConsoleRig(scope, { markets: MARKETS, name: 'console-scale' }));
    page = await openConsole(browser, base);
  });
  after(async () => {
    await browser?.close();
    await scope.close();
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
      const p = await openConsole(browser, base); // logged in, on the Overview
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
