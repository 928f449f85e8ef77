/**
 * Proves the real components work on this machine: Consul (KV and a blocking query through
 * the Consul client, shared/consul/), Envoy (a static config proxying to a hono server), vegeta (a short
 * attack whose per-request results are read back) and `cellctl doctor` over the installed
 * binaries (pinned versions, open-source licences). No mocks; a missing binary fails these tests.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { createConsulClient, watchKvPrefix } from '../shared/consul.js';
import type { KvEntry } from '../shared/routing-table.js';
import { startConsul, type ConsulAgent } from './harness/consul.js';
import { startEnvoy } from './harness/envoy.js';
import { freePorts } from './ports.js';
import { ProcessScope } from './process.js';
import { diagnose, TOOLS } from './doctor.js';
import { isOpenSource } from './licenses.js';
import { startAttack, taggedUrl, urlTags, type VegetaResult } from './vegeta/index.js';

function startHono(port: number): Promise<ServerType> {
  const app = new Hono();
  app.get('/hello', (c) => {
    c.header('x-cell-id', 'cell-test');
    return c.json({ hello: 'world', via: c.req.header('x-via') ?? null });
  });
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve(server));
  });
}

describe('real Consul dev agent', () => {
  let consul: ConsulAgent;
  before(async () => {
    consul = await startConsul();
  });
  after(async () => {
    await consul.proc.stop();
  });

  it('stores and reads back a KV value through the Consul client', async () => {
    const client = createConsulClient(consul.url);
    await client.kv.put('cellsim/test/hello', JSON.stringify({ v: 1 }));
    const got = await client.kv.get('cellsim/test/hello');
    assert.equal(got.value?.value, '{"v":1}');
  });

  it('wakes a blocking query on change, not before', async () => {
    const client = createConsulClient(consul.url);
    await client.kv.put('cellsim/watch/a', '1');
    const seen: KvEntry[][] = [];
    let wake: (() => void) | undefined;
    const w = watchKvPrefix(
      client,
      'cellsim/watch/',
      {
        onChange: ({ value }) => {
          seen.push(value);
          wake?.();
        },
      },
      { wait: '10s' },
    );
    try {
      await new Promise<void>((r) => {
        wake = r;
      });
      assert.equal(seen.length, 1);
      const firstIndex = w.index;
      assert.ok(firstIndex > 0);
      // No change for a while: the query stays blocked, nothing new is delivered.
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(seen.length, 1);
      const changed = new Promise<void>((r) => {
        wake = r;
      });
      const t0 = Date.now();
      await client.kv.put('cellsim/watch/b', '2');
      await changed;
      assert.ok(Date.now() - t0 < 2000, 'woke promptly on change');
      assert.deepEqual(
        seen.at(-1)?.map((e) => [e.key, e.value]),
        [
          ['cellsim/watch/a', '1'],
          ['cellsim/watch/b', '2'],
        ],
      );
      assert.ok(w.index > firstIndex);
    } finally {
      w.stop();
    }
  });
});

describe('real Envoy', () => {
  it('proxies a request to a local hono server with a static config', async () => {
    await new ProcessScope().run(async (scope) => {
      const [upstreamPort, listenPort, adminPort] = await freePorts(3);
      const server = await startHono(upstreamPort!);
      try {
        const envoy = await startEnvoy({
          adminPort: adminPort!,
          bootstrap: {
            admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
            static_resources: {
              listeners: [
                {
                  name: 'in',
                  address: { socket_address: { address: '127.0.0.1', port_value: listenPort } },
                  filter_chains: [
                    {
                      filters: [
                        {
                          name: 'envoy.filters.network.http_connection_manager',
                          typed_config: {
                            '@type':
                              'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                            stat_prefix: 'in',
                            route_config: {
                              virtual_hosts: [
                                {
                                  name: 'all',
                                  domains: ['*'],
                                  routes: [
                                    {
                                      match: { prefix: '/' },
                                      route: { cluster: 'hono' },
                                      request_headers_to_add: [{ header: { key: 'x-via', value: 'envoy' } }],
                                    },
                                  ],
                                },
                              ],
                            },
                            http_filters: [
                              {
                                name: 'envoy.filters.http.router',
                                typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                              },
                            ],
                          },
                        },
                      ],
                    },
                  ],
                },
              ],
              clusters: [
                {
                  name: 'hono',
                  type: 'STATIC',
                  connect_timeout: '1s',
                  load_assignment: {
                    cluster_name: 'hono',
                    endpoints: [
                      { lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upstreamPort } } } }] },
                    ],
                  },
                },
              ],
            },
          },
        });
        scope.adopt(envoy.proc);
        const res = await fetch(`http://127.0.0.1:${listenPort}/hello`);
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { hello: 'world', via: 'envoy' });
        assert.match(res.headers.get('server') ?? '', /envoy/);
      } finally {
        server.close();
      }
    });
  });
});

describe('real vegeta', () => {
  it('sends live targets at a fixed rate and reads back each result with its tags and response headers', async () => {
    const [port] = await freePorts(1);
    const server = await startHono(port!);
    const dir = mkdtempSync(join(tmpdir(), 'cellsim-vegeta-test-'));
    try {
      const results: VegetaResult[] = [];
      const attack = startAttack({
        rate: 200,
        resultsFile: join(dir, 'results.jsonl'),
        onResult: (r) => results.push(r),
        killAfterMs: 60_000,
      });
      for (let i = 0; i < 20; i++) attack.send({ method: 'GET', url: taggedUrl(`http://127.0.0.1:${port}/hello`, { n: String(i) }) });
      attack.end();
      const outcome = await attack.done;
      assert.equal(outcome.exitCode, 0, outcome.output);
      assert.equal(outcome.results, 20);
      assert.deepEqual(
        results.map((r) => r.code),
        Array(20).fill(200),
      );
      assert.deepEqual(
        results.map((r) => Number(urlTags(r.url).n)).sort((a, b) => a - b),
        [...Array(20).keys()],
      );
      assert.ok(results.every((r) => r.headers['x-cell-id'] === 'cell-test'));
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('cellctl doctor on this machine', () => {
  it('finds every tool, at the pinned version unless a *_BIN chose another, under an open-source licence', () => {
    const report = diagnose();
    for (const t of TOOLS) {
      const s = report[t];
      assert.ok(s.ok, `${t}: ${s.error ?? ''}`);
      assert.ok(s.license !== undefined && isOpenSource(s.license), `${t}: licence ${s.license ?? 'unknown'}`);
      if (s.pinned !== undefined && s.source !== 'env') assert.equal(s.version, s.pinned, `${t} is the pinned version`);
    }
    assert.equal(report.consul.license, 'MPL-2.0');
    assert.equal(report.envoy.license, 'Apache-2.0');
    assert.equal(report.vegeta.license, 'MIT');
    assert.equal(report.chromium.license, 'BSD-3-Clause');
    assert.equal(report['playwright-core'].license, 'Apache-2.0');
    assert.equal(report['k8s.io/client-go'].license, 'Apache-2.0');
  });
});
