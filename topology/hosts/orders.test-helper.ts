/**
 * The multi-host tests' order check: 40 creates from the client host's namespace, round robin
 * over every edge replica (routers and Envoys), through vegeta; each must answer 2xx.
 */
import assert from 'node:assert/strict';
import { startAttack, type VegetaResult } from '../../infra/vegeta/index.js';

export interface OrdersFromClient {
  /** The routers and Envoys to send through (their URLs as the client host reaches them). */
  edges: readonly { id: string; url: string }[];
  /** The client host's network namespace. */
  ns: string;
  resultsFile: string;
  /** Prefix of each request's idempotency key. */
  keyPrefix: string;
  /** The CA file vegeta trusts (a topology serving HTTPS). */
  rootCerts?: string;
}

/** Sends the 40 creates and asserts that every one was answered 200 or 201. */
export async function assertOrdersFromClient(o: OrdersFromClient): Promise<void> {
  const targets = o.edges.map((e, i) => ({
    method: 'POST',
    url: `${e.url}/v1/orders#${e.id}`,
    header: { 'x-market-id': ['sf'], 'idempotency-key': [`${o.keyPrefix}-${i}`], 'content-type': ['application/json'] },
    body: JSON.stringify({ customerId: 'c-1', items: [{ sku: 'burrito', qty: 1, priceCents: 1299 }], address: '1 Market St' }),
  }));
  const results: VegetaResult[] = [];
  const attack = startAttack({
    rate: 20,
    durationMs: 2000,
    resultsFile: o.resultsFile,
    netns: o.ns,
    ...(o.rootCerts !== undefined ? { rootCerts: o.rootCerts } : {}),
    onResult: (r) => results.push(r),
  });
  for (let i = 0; i < 40; i++) attack.send(targets[i % targets.length]!);
  attack.end();
  const done = await attack.done;
  assert.equal(done.exitCode, 0, done.output);
  assert.equal(results.length, 40);
  assert.deepEqual(
    results.filter((r) => r.code !== 201 && r.code !== 200).map((r) => `${r.url} ${r.code} ${r.error}`),
    [],
  );
}

/** What {@link cellsFromClient} sends: one create of `market` through each edge. */
export interface CellsFromClient extends OrdersFromClient {
  market: string;
}

/**
 * One create of `market` from the client host through each edge replica: the cell that answered
 * each (`x-cell-id`), or `<status> <error>` when it was not created.
 */
export async function cellsFromClient(o: CellsFromClient): Promise<string[]> {
  const results: VegetaResult[] = [];
  const attack = startAttack({
    rate: 20,
    resultsFile: o.resultsFile,
    netns: o.ns,
    timeoutMs: 10_000,
    ...(o.rootCerts !== undefined ? { rootCerts: o.rootCerts } : {}),
    onResult: (r) => results.push(r),
  });
  o.edges.forEach((e, i) =>
    attack.send({
      method: 'POST',
      url: `${e.url}/v1/orders#${e.id}`,
      header: { 'x-market-id': [o.market], 'idempotency-key': [`${o.keyPrefix}-${i}`], 'content-type': ['application/json'] },
      body: JSON.stringify({ customerId: 'c-1', items: [{ sku: 'burrito', qty: 1, priceCents: 1299 }], address: '1 Market St' }),
    }),
  );
  attack.end();
  const done = await attack.done;
  assert.equal(done.exitCode, 0, done.output);
  return o.edges.map((e) => {
    const r = results.find((x) => x.url.endsWith(`#${e.id}`));
    return r && r.code === 201 ? (r.headers['x-cell-id'] ?? 'no x-cell-id') : `${r?.code ?? 'no answer'} ${r?.error ?? ''}`.trim();
  });
}
