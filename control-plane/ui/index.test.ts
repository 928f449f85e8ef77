/**
 * The console's serving and auth through `app.request()` (no socket, no Consul): login with an
 * admin token into an HttpOnly SameSite=Strict cookie, the token in no URL and no page, pages
 * behind the session, action buttons only for an operator, a read token's action refused 403
 * by the admin API itself, actions only from the page (custom header), logout.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { OPERATOR, READ, setup } from './fakes.test-helper.js';

async function login(app: Hono, token: string): Promise<{ res: Response; cookie: string }> {
  const res = await app.request('/ui/login', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
  return { res, cookie: (res.headers.get('set-cookie') ?? '').split(';')[0]! };
}

describe('operator console: serving and auth', () => {
  it('sends a browser without a session to the login form, and refuses its API calls 401', async () => {
    const { app, close } = setup();
    const page = await app.request('/ui/');
    assert.equal(page.status, 303);
    assert.equal(page.headers.get('location'), '/ui/login');
    const form = await app.request('/ui/login');
    assert.equal(form.status, 200);
    assert.match(await form.text(), /<form method="post" action="\/ui\/login"/);
    const act = await app.request('/ui/api/cells/cell-2/drain', { method: 'POST', headers: { 'x-cellsim-console': '1' }, body: '{}' });
    assert.equal(act.status, 401);
    assert.equal((await app.request('/ui/events')).status, 401);
    close();
  });

  it('logs in with an admin token into an HttpOnly SameSite=Strict cookie that holds no token; a wrong token gets 401 and no cookie', async () => {
    const { app, close } = setup();
    const bad = await login(app, 'not-a-token-at-all-xxxx');
    assert.equal(bad.res.status, 401);
    assert.equal(bad.res.headers.get('set-cookie'), null);
    const { res, cookie } = await login(app, OPERATOR);
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/ui/');
    const set = res.headers.get('set-cookie') ?? '';
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Strict/);
    assert.match(set, /Path=\/ui/);
    assert.ok(!set.includes(OPERATOR), 'the cookie carries a session id, not the token');
    const page = await app.request('/ui/', { headers: { cookie } });
    assert.equal(page.status, 200);
    const text = await page.text();
    assert.ok(!text.includes(OPERATOR), 'the token appears in no page');
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    close();
  });

  it('shows an operator the action forms and a read-only session none', async () => {
    const { app, close } = setup();
    for (const [token, acts] of [
      [OPERATOR, true],
      [READ, false],
    ] as const) {
      const { cookie } = await login(app, token);
      for (const path of ['/ui/', '/ui/operations', '/ui/markets']) {
        const html = await (await app.request(path, { headers: { cookie } })).text();
        assert.equal(/class="act"/.test(html), acts, `${path} for ${acts ? 'operator' : 'read'}`);
        assert.equal(/<dialog id="confirm"/.test(html), acts);
      }
      const overview = await (await app.request('/ui/', { headers: { cookie } })).text();
      for (const c of ['cell-0', 'cell-1', 'cell-2']) assert.match(overview, new RegExp(`data-cell="${c}"`));
    }
    close();
  });

  it('names every form field for assistive technology (an aria-label, or a wrapping label)', async () => {
    const { app, close } = setup();
    const { cookie } = await login(app, OPERATOR);
    for (const path of ['/ui/', '/ui/operations', '/ui/markets', '/ui/audit']) {
      const text = await (await app.request(path, { headers: { cookie } })).text();
      const fields = [...text.matchAll(/(<label>\s*)?<(input|select)\b[^>]*>/g)].filter((m) => !/type="hidden"/.test(m[0]));
      if (path === '/ui/operations' || path === '/ui/markets') assert.ok(fields.length > 0, `${path} has fields`);
      for (const m of fields) assert.ok(m[1] !== undefined || /aria-label="[^"]+"/.test(m[0]), `${path}: unnamed ${m[0]}`);
    }
    close();
  });

  it("forwards an operator's action to the admin API as its token, and the API refuses a read token 403", async () => {
    const { app, calls, close } = setup();
    const act = (cookie: string, header = true) =>
      app.request('/ui/api/cells/cell-2/drain', {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json', ...(header ? { 'x-cellsim-console': '1' } : {}) },
        body: JSON.stringify({ dryRun: true }),
      });
    const op = await login(app, OPERATOR);
    assert.equal((await act(op.cookie)).status, 200);
    assert.deepEqual(calls, [{ path: '/cells/cell-2/drain', who: 'alice', body: { dryRun: true } }]);
    assert.equal((await act(op.cookie, false)).status, 403, 'an action without the page header (a cross-site form) is refused');
    const rd = await login(app, READ);
    const refused = await act(rd.cookie);
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'forbidden');
    assert.equal(calls.length, 1);
    close();
  });

  it('pages the market map on the server, filters by state, and reads the audit log through the admin API', async () => {
    const { app, close } = setup();
    const { cookie } = await login(app, READ);
    const frozen = await (await app.request('/ui/markets?state=frozen', { headers: { cookie } })).text();
    assert.match(frozen, /data-market="nyc" class=" frozen"/);
    assert.ok(!frozen.includes('data-market="sf"'));
    assert.match(frozen, /1 markets match/);
    const audit = await (await app.request('/ui/audit', { headers: { cookie } })).text();
    assert.match(audit, /drain \(dry run\)/);
    close();
  });

  it('logs out: the session is gone and the cookie cleared', async () => {
    const { app, close } = setup();
    const { cookie } = await login(app, OPERATOR);
    const out = await app.request('/ui/logout', { method: 'POST', headers: { cookie } });
    assert.equal(out.status, 303);
    assert.match(out.headers.get('set-cookie') ?? '', /Max-Age=0/);
    assert.equal((await app.request('/ui/', { headers: { cookie } })).status, 303);
    close();
  });
});
