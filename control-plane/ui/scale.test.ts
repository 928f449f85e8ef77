/**
 * The console at 100,000 markets, in Debian's chromium: every page's first contentful paint under
 * 1 s, and the Markets page's search, filter and last page cut on the server. The console's real
 * routes and pages on a real socket; Consul and the xDS server are fakes (./fakes.test-helper.ts)
 * holding a 100,000-market map, so the figure is the console's own cost.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { serve, type ServerType } from '@hono/node-server';
import { chromium, type Browser, type Page } from 'playwright-core';
import { requireChromium } from '../../infra/browser.js';
import type { MarketRecord } from '../../shared/kv.js';
import { OPERATOR, setup } from './fakes.test-helper.js';

const MARKETS = 100_000;

describe('console at 100,000 markets in chromium', () => {
  let server: ServerType;
  let browser: Browser;
  let page: Page;
  let base: string;
  let close: () => void;

  before(async () => {
    const executablePath = requireChromium();
    const markets = new Map<string, MarketRecord>();
    for (let i = 0; i < MARKETS; i++) {
      markets.set(`m-${String(i).padStart(6, '0')}`, { cell: `cell-${i % 3}`, state: i % 1000 === 7 ? 'frozen' : 'active', epoch: 1 });
    }
    const s = setup(markets);
    close = s.close;
    server = await new Promise<ServerType>((resolve) => {
      const srv = serve({ fetch: s.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(srv));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
    page = await (await browser.newContext()).newPage();
    await page.goto(`${base}/ui/login`);
    await page.fill('#token', OPERATOR);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#cells');
  });
  after(async () => {
    await browser?.close();
    close?.();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
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
      '/ui/markets?cell=cell-2&page=300',
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
});
