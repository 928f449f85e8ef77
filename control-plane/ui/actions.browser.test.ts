/**
 * The console's cell and rollout actions in a real browser (Debian's chromium, playwright-core)
 * against `cellctl up --any-ports`: drain and activate a cell, roll a cell back after a
 * rollout, abort a running rollout and evacuate a cell, each clicked on the page, confirmed in
 * the dialog (with a dry run where the action has one), and each seen in Consul through the
 * admin API and in the audit log. Screenshots go to reports/console-test/. Fails (does not
 * skip) when chromium is missing.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { requireChromium } from '../../infra/browser.js';
import { waitFor, type ManagedProcess } from '../../infra/process.js';
import { startUp } from '../../infra/harness/up.js';

const SHOTS = fileURLToPath(new URL('../../reports/console-test/', import.meta.url));

interface CellRow {
  id: string;
  state: string;
  version: string;
}
interface RolloutRow {
  id: string;
  state: string;
  version: string;
}

describe('console actions in chromium against cellctl up', () => {
  let data: string;
  let up: ManagedProcess;
  let browser: Browser;
  let cp: string;
  let page: Page;
  const tokens = { operator: '', read: '' };

  /** GET on the admin API with the read token (what Consul holds, as the API reads it). */
  const admin = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${cp}/admin${path}`, { headers: { authorization: `Bearer ${tokens.read}` } });
    const text = await res.text();
    assert.equal(res.status, 200, `GET ${path}: ${text}`);
    return JSON.parse(text) as T;
  };
  const cell = async (id: string) => (await admin<{ cells: CellRow[] }>('/cells')).cells.find((c) => c.id === id)!;
  const marketsOn = async (id: string) =>
    (await admin<{ markets: { market: string; cell: string }[] }>('/markets')).markets.filter((m) => m.cell === id).map((m) => m.market);
  const lastAudit = async () =>
    (await admin<{ audit: { action: string; target: string; result: string; operator?: string }[] }>('/audit?limit=1')).audit[0];
  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  /** Submits the action form at `path` on the page, dry-runs it when `dry`, confirms, and returns the dialog's result line. */
  const act = async (path: string, o: { dry: boolean; expect: string; afterDry?: () => Promise<void> }) => {
    await page.locator(`form.act[data-path="${path}"] button[type=submit]`).click();
    await page.waitForSelector('#confirm[open]');
    if (o.dry) {
      await page.click('#confirm-dry');
      await page
        .locator('#confirm-result')
        .filter({ hasText: /^dry run: 200$/ })
        .waitFor({ timeout: 30_000 });
      await o.afterDry?.();
    } else assert.equal(await page.isDisabled('#confirm-dry'), true, `${path} has no dry run`);
    await page.click('#confirm-go');
    await page
      .locator('#confirm-result')
      .filter({ hasText: new RegExp(`^${o.expect}$`) })
      .waitFor({ timeout: 90_000 });
  };

  before(async () => {
    const executablePath = requireChromium();
    mkdirSync(SHOTS, { recursive: true });
    data = mkdtempSync(join(tmpdir(), 'cellsim-console-act-'));
    up = await startUp({ data });
    const topo = JSON.parse(readFileSync(join(data, 'topology.json'), 'utf8')) as { controlPlane: { url: string } };
    cp = topo.controlPlane.url;
    for (const kind of Object.keys(tokens) as (keyof typeof tokens)[])
      tokens[kind] = readFileSync(join(data, 'tokens', kind), 'utf8').trim();
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await ctx.newPage();
    await page.goto(`${cp}/ui/login`);
    await page.fill('#token', tokens.operator);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#cells');
    await page.locator('#cells tbody tr.healthy').nth(2).waitFor({ timeout: 30_000 });
  });
  after(async () => {
    await browser?.close();
    await up?.stop(30_000);
    if (data) rmSync(data, { recursive: true, force: true });
  });

  it('drains a cell from the Overview (dry run first, which changes nothing), then activates it again', async () => {
    await act('/cells/cell-1/drain', {
      dry: true,
      expect: 'done: 200',
      afterDry: async () => assert.equal((await cell('cell-1')).state, 'active', 'a dry run changes nothing'),
    });
    assert.equal((await cell('cell-1')).state, 'draining', 'Consul holds the drained cell');
    assert.deepEqual(await lastAudit().then((a) => [a?.action, a?.target, a?.result]), ['drain', 'cell-1', 'ok']);
    await page.waitForSelector('#cells tr[data-cell="cell-1"] form.act[data-path="/cells/cell-1/activate"]', { timeout: 15_000 });
    await shot('action-drained');
    await act('/cells/cell-1/activate', { dry: true, expect: 'done: 200' });
    assert.equal((await cell('cell-1')).state, 'active');
  });

  it('keeps a pressed button through a live update: the click lands, the update plays on release', async () => {
    const seq = () => page.evaluate<number>('Number(document.body.dataset.seq)');
    await page.waitForSelector('#confirm[open]', { state: 'detached', timeout: 5_000 });
    await page.locator('form.act[data-path="/cells/cell-1/drain"] button[type=submit]').waitFor({ timeout: 15_000 });
    const box = await page.locator('form.act[data-path="/cells/cell-1/drain"] button[type=submit]').boundingBox();
    assert.ok(box, 'the drain button of cell-1 is on the page');
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    // The cells region changes under the pressed button: cell-2 drained through the API.
    const drained = await fetch(`${cp}/admin/cells/cell-2/drain`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.operator}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(drained.status, 200, await drained.text());
    const from = await seq();
    await waitFor(
      async () => (await seq()) >= from + 2,
      15_000,
      () => `no live update after the drain (seq ${from})`,
    );
    assert.equal(
      await page.locator('#cells tr[data-cell="cell-2"] form.act[data-path="/cells/cell-2/activate"]').count(),
      0,
      'held while pressed',
    );
    await page.mouse.up();
    await page.waitForSelector('#confirm[open]', { timeout: 5_000 });
    assert.match((await page.textContent('#confirm-plan')) ?? '', /^POST \/cells\/cell-1\/drain /);
    await page.click('#confirm-cancel');
    await page.waitForSelector('#cells tr[data-cell="cell-2"] form.act[data-path="/cells/cell-2/activate"]', { timeout: 5_000 });
    assert.equal((await cell('cell-1')).state, 'active', 'cancelled: nothing done');
    const activated = await fetch(`${cp}/admin/cells/cell-2/activate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.operator}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(activated.status, 200, await activated.text());
    await page.waitForSelector('#cells tr[data-cell="cell-2"] form.act[data-path="/cells/cell-2/drain"]', { timeout: 15_000 });
  });

  it('refuses bad input in a form with the API coded error in the dialog, and writes nothing', async () => {
    await page.goto(`${cp}/ui/operations`);
    const form = page.locator('form.act[data-path="/migrations"]');
    await form.locator('input[name=market]').fill('atlantis');
    await form.locator('select[name=to]').selectOption('cell-1');
    await form.locator('button[type=submit]').click();
    await page.waitForSelector('#confirm[open]');
    await page.click('#confirm-go');
    await page
      .locator('#confirm-result')
      .filter({ hasText: /^refused: 4\d\d \w+: / })
      .waitFor({ timeout: 30_000 });
    process.stdout.write(`# bad input: ${await page.textContent('#confirm-result')}\n`);
    const migrations = await admin<{ migrations: { market: string }[] }>('/migrations');
    assert.ok(!migrations.migrations.some((m) => m.market === 'atlantis'), 'no migration written');
    assert.ok(!(await marketsOn('cell-1')).includes('atlantis'), 'no market written');
    await page.click('#confirm-cancel');
  });

  it('rolls a cell back to its previous version from the Overview after a rollout', async () => {
    const before = (await cell('cell-2')).version;
    const started = await fetch(`${cp}/admin/rollouts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ version: 'v2', bakeMs: 500, allowIdle: true }),
    });
    assert.equal(started.status, 202, await started.text());
    let latest: RolloutRow | undefined;
    await waitFor(
      async () => (latest = (await admin<{ rollouts: RolloutRow[] }>('/rollouts')).rollouts[0])?.state === 'succeeded',
      240_000,
      () => `rollout: ${JSON.stringify(latest)}`,
      500,
    );
    assert.equal((await cell('cell-2')).version, 'v2');
    await page.goto(`${cp}/ui/`);
    await act('/cells/cell-2/rollback', { dry: true, expect: 'done: 200' });
    assert.equal((await cell('cell-2')).version, before, 'Consul holds the previous version');
    assert.deepEqual(await lastAudit().then((a) => [a?.action, a?.target, a?.result]), ['rollback', 'cell-2', 'ok']);
    await page.locator('#cells tr[data-cell="cell-2"] td.version').filter({ hasText: before }).waitFor({ timeout: 15_000 });
  });

  it('aborts a running rollout from the Operations page', async () => {
    const started = await fetch(`${cp}/admin/rollouts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ version: 'v3', bakeMs: 120_000, allowIdle: true }),
    });
    assert.equal(started.status, 202, await started.text());
    await page.goto(`${cp}/ui/operations`);
    await page.waitForSelector('form.act[data-path="/rollouts/abort"]', { timeout: 30_000 });
    await act('/rollouts/abort', { dry: false, expect: 'done: 202' });
    await waitFor(
      async () => (await admin<{ running: RolloutRow | null }>('/rollouts')).running === null,
      120_000,
      () => 'the rollout stops',
      500,
    );
    const last = (await admin<{ rollouts: RolloutRow[] }>('/rollouts')).rollouts[0];
    assert.equal(last?.version, 'v3');
    assert.ok(['aborted', 'rolled-back'].includes(last?.state ?? ''), `aborted rollout ends ${last?.state}`);
    await page.waitForSelector('form.act[data-path="/rollouts/abort"]', { state: 'detached', timeout: 15_000 });
    await shot('action-rollout-aborted');
  });

  it('evacuates a cell from the Overview: its markets move off it, live on Operations', async () => {
    const owned = await marketsOn('cell-2');
    assert.ok(owned.length > 0, 'cell-2 owns markets to move');
    await page.goto(`${cp}/ui/`);
    await act('/cells/cell-2/evacuate', { dry: true, expect: 'done: 202' });
    await page.goto(`${cp}/ui/operations`);
    await page.waitForSelector('#evacuations [data-evacuation="cell-2"]', { timeout: 30_000 });
    let left: string[] = owned;
    await waitFor(
      async () => (left = await marketsOn('cell-2')).length === 0,
      180_000,
      () => `still on cell-2: ${left.join(',')}`,
      500,
    );
    assert.equal((await cell('cell-2')).state, 'draining');
    await shot('action-evacuated');
  });
});
