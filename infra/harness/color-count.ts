/**
 * Counts which color of a blue/green echo cell answered a market's requests: the weighted-shift
 * tests send a batch through a data plane and compare the green share with the asked one.
 */
import assert from 'node:assert/strict';
import { request, type Dispatcher } from 'undici';

/** How to send the batch. */
export interface ColorCountOptions {
  dispatcher: Dispatcher;
  /** Requests in flight at once (default 8). */
  workers?: number;
  /** When set, every answer must name this cell in `x-cell-id`. */
  cell?: string;
  /** Counts answers other than 200 as `failed` instead of failing the test (a color told to fail). */
  countFailures?: boolean;
}

/**
 * Sends `n` `GET /v1/orders` for `market` to `base`; every answer must be 200 unless
 * `countFailures`. Returns the colors that answered 200, and how many did not.
 */
export async function countColors(
  base: string,
  market: string,
  n: number,
  o: ColorCountOptions,
): Promise<{ blue: number; green: number; failed: number }> {
  const out = { blue: 0, green: 0, failed: 0 };
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const res = await request(`${base}/v1/orders`, { headers: { 'x-market-id': market }, dispatcher: o.dispatcher });
      const text = await res.body.text();
      if (o.countFailures && res.statusCode !== 200) {
        out.failed++;
        continue;
      }
      assert.equal(res.statusCode, 200, text.slice(0, 300));
      if (o.cell !== undefined) assert.equal(res.headers['x-cell-id'], o.cell, `x-cell-id names ${o.cell}`);
      out[(JSON.parse(text) as { color: 'blue' | 'green' }).color]++;
    }
  };
  await Promise.all(Array.from({ length: o.workers ?? 8 }, worker));
  return out;
}
