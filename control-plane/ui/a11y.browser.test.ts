/**
 * The console's accessibility, in Debian's chromium: axe-core's WCAG 2 A and AA rules (colour
 * contrast, names of controls and links, landmarks, lang, tables) find nothing on any page or in
 * the open confirmation dialog, and an operator reaches, opens, runs and leaves an action with the
 * keyboard alone. The console's real routes and pages on a real socket over the fakes of
 * ./fakes.test-helper.ts: what is checked is the markup and the stylesheet, not the data.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { serve, type ServerType } from '@hono/node-server';
import { chromium, type Browser, type Page } from 'playwright-core';
import { requireChromium } from '../../infra/browser.js';
import { OPERATOR, setup } from './fakes.test-helper.js';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; failureSummary?: string }[];
}

/** axe-core's WCAG 2.0/2.1/2.2 A and AA rules on the page as it is now; one line per failing node. */
async function violations(page: Page): Promise<string[]> {
  if (!(await page.evaluate('typeof window.axe !== "undefined"'))) await page.evaluate(AXE_SOURCE);
  const found = await page.evaluate<AxeViolation[]>(
    `axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } }).then((r) => r.violations)`,
  );
  return found.flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact ?? '?'}): ${v.help} at ${n.target.join(' ')}`));
}

describe('console accessibility in chromium', () => {
  let server: ServerType;
  let browser: Browser;
  let page: Page;
  let base: string;
  let close: () => void;

  before(async () => {
    const executablePath = requireChromium();
    const s = setup();
    close = s.close;
    server = await new Promise<ServerType>((resolve) => {
      const srv = serve({ fetch: s.app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(srv));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
    page = await (await browser.newContext()).newPage();
  });
  after(async () => {
    await browser?.close();
    close?.();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  it('finds no WCAG 2 A/AA violation on the login page, then logs in with the keyboard alone', async () => {
    await page.goto(`${base}/ui/login`);
    assert.deepEqual(await violations(page), []);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement?.id'), 'token', 'the first Tab lands on the token field');
    await page.keyboard.type(OPERATOR);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#cells');
  });

  for (const path of ['/ui/', '/ui/markets', '/ui/operations', '/ui/audit']) {
    it(`finds no WCAG 2 A/AA violation on ${path}`, async () => {
      await page.goto(`${base}${path}`);
      assert.deepEqual(await violations(page), []);
    });
  }

  it('runs an action with the keyboard: Tab to it, Enter opens the dialog with focus inside, Escape closes it and focus returns', async () => {
    await page.goto(`${base}/ui/`);
    const selector = 'form.act[data-path="/cells/cell-2/drain"] button[type=submit]';
    assert.equal(await page.locator(selector).count(), 1, 'the drain button of cell-2');
    const focused = () => page.evaluate<boolean>(`document.querySelector('${selector}') === document.activeElement`);
    let reached = false;
    for (let i = 0; i < 80 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await focused();
    }
    assert.ok(reached, 'Tab reaches the drain button within 80 presses');
    const outline = await page.evaluate<string>(`getComputedStyle(document.activeElement).outlineStyle`);
    assert.notEqual(outline, 'none', 'the focused button shows a focus outline');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#confirm[open]');
    assert.ok(await page.evaluate("document.getElementById('confirm').contains(document.activeElement)"), 'focus moves into the dialog');
    assert.deepEqual(await violations(page), [], 'the open dialog');
    await page.keyboard.press('Escape');
    await page.waitForSelector('#confirm:not([open])', { state: 'attached' });
    assert.ok(await focused(), 'focus returns to the button that opened the dialog');
  });
});
