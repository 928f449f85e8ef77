/**
 * Proves the real components work on this machine: Consul (KV and a blocking query through
 * the consul npm client), Envoy (a static config proxying to a hono server) and k6 (a short
 * run whose JSON summary is read back). No mocks; a missing binary fails these tests.
 */
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { createConsulClient, watchKvPrefix } from '../shared/consul.js';
import type { KvEntry } from '../shared/routing-table.js';
import { startConsul, type ConsulAgent } from './harness/consul.js';
import { startEnvoy } from './harness/envoy.js';
import { runK6 } from './harness/k6.js';
import { freePorts } from './harness/ports.js';
import { ProcessScope } from './harness/process.js';

function startHono(port: number): Promise<ServerType> {
  const app = new Hono();
  app.get('/hello', (c) => c.json({ hello: 'world', via: c.req.header('x-via') ?? null }));
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

  it('stores and reads back a KV value through the consul npm client', async () => {
    const client = createConsulClient(consul.url);
    await client.kv.set('cellsim/test/hello', JSON.stringify({ v: 1 }));
    const got = (await client.kv.get('cellsim/test/hello')) as { Value: string } | null;
    assert.equal(got?.Value, '{"v":1}');
  });

  it('wakes a blocking query on change, not before', async () => {
    const client = createConsulClient(consul.url);
    await client.kv.set('cellsim/watch/a', '1');
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
      await client.kv.set('cellsim/watch/b', '2');
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

describe('real k6', () => {
  it('runs a short script against a local server and its JSON summary is read back', async () => {
    const [port] = await freePorts(1);
    const server = await startHono(port!);
    try {
      const dir = mkdtempSync(join(tmpdir(), 'cellsim-k6-test-'));
      const script = join(dir, 'hello.js');
      writeFileSync(
        script,
        `import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 20, vus: 2, thresholds: { checks: ['rate==1'] } };
export default function () {
  const r = http.get(__ENV.TARGET + '/hello');
  check(r, { 'status 200': (x) => x.status === 200 });
}
`,
      );
      const result = await runK6(script, { env: { TARGET: `http://127.0.0.1:${port}` } });
      assert.equal(result.exitCode, 0, result.output);
      assert.equal(result.summary.metrics.http_reqs?.count, 20);
      assert.equal(result.summary.metrics.checks?.passes, 20);
    } finally {
      server.close();
    }
  });
});
