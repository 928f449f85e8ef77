/** The console's sessions: one expires after its time to live (the cookie's Max-Age says the same), and the oldest give way at the cap. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { SessionStore } from './sessions.js';

const TOKEN = 'sessions-test-operator-token-1';

function app(o: { ttlMs?: number; max?: number; now: () => number }) {
  const store = new SessionStore([{ name: 'operator', scope: 'operator', token: TOKEN }], o);
  const a = new Hono();
  a.post('/ui/login', (c) => (store.login(c, TOKEN) ? c.text('in') : c.text('no', 401)));
  a.get('/ui/me', (c) => (store.get(c) ? c.text('yes') : c.text('no', 401)));
  const login = async () => {
    const res = await a.request('/ui/login', { method: 'POST' });
    return { cookie: (res.headers.get('set-cookie') ?? '').split(';')[0]!, set: res.headers.get('set-cookie') ?? '' };
  };
  const me = async (cookie: string) => (await a.request('/ui/me', { headers: { cookie } })).status;
  return { store, login, me };
}

describe('console sessions', () => {
  it('expires a session at its time to live, on the server, whatever the browser keeps', async () => {
    let now = 1_000_000;
    const t = app({ ttlMs: 60_000, now: () => now });
    const { cookie, set } = await t.login();
    assert.match(set, /Max-Age=60(;|$)/);
    assert.equal(await t.me(cookie), 200);
    now += 59_999;
    assert.equal(await t.me(cookie), 200, 'still live 1 ms before');
    now += 1;
    assert.equal(await t.me(cookie), 401, 'expired');
    assert.equal(t.store.size, 0, 'the expired session is dropped');
    now += 1_000_000;
    assert.equal(await t.me(cookie), 401, 'and stays out');
  });

  it('drops the oldest session when the cap is reached', async () => {
    const t = app({ max: 2, now: () => 0 });
    const a = await t.login();
    const b = await t.login();
    const c = await t.login();
    assert.equal(t.store.size, 2);
    assert.deepEqual([await t.me(a.cookie), await t.me(b.cookie), await t.me(c.cookie)], [401, 200, 200]);
  });
});
