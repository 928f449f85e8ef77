/**
 * The routing contract's `shareMove` case (docs/weighted-shifts.md §Market moves by share): market
 * `m-sm` of `cell-a` carries `shareMove: {to: cell-b, header: x-customer-id, percent: 30.25}`. Each
 * key is sent once: a key whose bucket (FNV-1a-32 of the value, modulo 10,000) is below 3,025 must
 * be served by `cell-b`, every other one by `cell-a`, key for key (so two planes that pass agree on
 * every key); the keys include the buckets right at the threshold. A request without the header,
 * with it twice or empty goes to `cell-a`, as does one with a client-sent `x-cellsim-arm`. A target
 * whose instance fails its check, one missing from `cells/`, or one without any instance leaves every
 * request on `cell-a` with a 200 (never a 5xx).
 */
import assert from 'node:assert/strict';

/** The market, cells, header and percent of the case. */
export const SHARE_MARKET = 'm-sm';
export const SHARE_FROM = 'cell-a';
export const SHARE_TO = 'cell-b';
export const SHARE_HEADER = 'x-customer-id';
export const SHARE_PERCENT = 30.25;
/** A cell the case writes a record for but starts no instance of. */
export const SHARE_EMPTY_CELL = 'cell-sm-empty';
const KEYS = 200;
/** Longer than the edge's warm-up of a share move's new route configuration (3 s). */
const WARM_WAIT_MS = 3500;

/**
 * The bucket of a key as the contract defines it, written here again as the test's oracle: the
 * test kit imports no product code (echo-cell.test.ts checks it against shared/experiment.ts).
 */
export function contractBucket(value: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(value, 'utf8')) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h % 10_000;
}

/** `n` keys: the first ones with buckets at the threshold's edges (threshold − 1, threshold, threshold + 1), then `cust-<i>`. */
export function shareKeys(threshold: number, n: number): string[] {
  const edges = new Map<number, string>();
  for (let i = 0; edges.size < 3 && i < 1_000_000; i++) {
    const key = `edge-${i}`;
    const b = contractBucket(key);
    if (b >= threshold - 1 && b <= threshold + 1 && !edges.has(b)) edges.set(b, key);
  }
  const keys = [...edges.values()];
  for (let i = 0; keys.length < n; i++) keys.push(`cust-${i}`);
  return keys;
}

/** One routed answer: status, the cell named in `x-cell-id`, and the echo cell that answered. */
export interface RoutedAnswer {
  status: number;
  cell: string | undefined;
  /** The `cell` of the echo cell's JSON answer (undefined when no echo cell answered). */
  servedBy: string | undefined;
  text: string;
}

/** `status cell` of an answer, or a mismatch when `x-cell-id` names another cell than the one that answered. */
const seen = (a: RoutedAnswer) =>
  a.cell === a.servedBy ? `${a.status} ${a.cell}` : `${a.status} x-cell-id ${a.cell} but served by ${a.servedBy}`;

/** What the case needs from the suite. */
export interface ShareMoveContext {
  /** Sends one request for `market` with these extra header lines. */
  send(market: string, headers: [string, string][]): Promise<RoutedAnswer>;
  /** Writes market and cell records to the suite's Consul. */
  seed(data: {
    cells?: Record<string, { state?: string }>;
    markets?: Record<string, { cell: string; shareMove?: { to: string; header: string; percent: number } }>;
  }): Promise<void>;
  /** Makes the only instance of `cell` pass or fail its Consul check. */
  setHealthy(cell: string, ok: boolean): void;
  propagationMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(ms: number, what: string, check: () => Promise<boolean>): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (await check().catch(() => false)) return;
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** Runs the case; returns how many keys went to the target. */
export async function shareMoveCase(ctx: ShareMoveContext): Promise<number> {
  // The oracle is FNV-1a-32 (published vectors), modulo 10,000.
  assert.equal(contractBucket('foobar'), 0xbf9cf968 % 10_000);
  const threshold = Math.round(SHARE_PERCENT * 100);
  const keys = shareKeys(threshold, KEYS);
  const below = keys.find((k) => contractBucket(k) < threshold)!;
  const above = keys.find((k) => contractBucket(k) >= threshold)!;
  const keyed = (key: string) => ctx.send(SHARE_MARKET, [[SHARE_HEADER, key]]);
  const move = (to: string) => ({ cell: SHARE_FROM, shareMove: { to, header: SHARE_HEADER, percent: SHARE_PERCENT } });

  await ctx.seed({ cells: { [SHARE_EMPTY_CELL]: {} }, markets: { [SHARE_MARKET]: move(SHARE_TO) } });
  await until(ctx.propagationMs, `a key below the threshold to reach ${SHARE_TO}`, async () => (await keyed(below)).cell === SHARE_TO);

  let moved = 0;
  const wrong: string[] = [];
  for (const key of keys) {
    const want = contractBucket(key) < threshold ? SHARE_TO : SHARE_FROM;
    const a = await keyed(key);
    if (seen(a) !== `200 ${want}`) wrong.push(`${key} (bucket ${contractBucket(key)}): ${seen(a)}, want ${want}`);
    if (a.cell === SHARE_TO) moved += 1;
  }
  assert.deepEqual(wrong, [], `keys on the wrong cell (threshold ${threshold})`);
  assert.ok(moved > 0 && moved < keys.length, `both cells served keys (${moved} of ${keys.length} moved)`);

  // No key, the key twice, an empty key: the owning cell.
  for (const headers of [
    [],
    [
      [SHARE_HEADER, below],
      [SHARE_HEADER, below],
    ],
    [[SHARE_HEADER, '']],
    [['x-cellsim-arm', 'variant']],
    [
      ['x-cellsim-arm', 'variant'],
      [SHARE_HEADER, above],
    ],
  ] as [string, string][][]) {
    for (let i = 0; i < 5; i++) {
      const a = await ctx.send(SHARE_MARKET, headers);
      assert.equal(seen(a), `200 ${SHARE_FROM}`, `headers ${JSON.stringify(headers)}: ${a.text.slice(0, 200)}`);
    }
  }

  // A target that cannot serve keeps every key on cell-a, with a 200: its only instance failing its
  // check (and back: the share returns), then a target missing from cells/, then one without any
  // instance, checked past the edge's 3 s warm-up of a new target (control-plane/xds/experiment-warmup.ts).
  const allStay = async (what: string) => {
    for (const key of keys.slice(0, 50)) {
      const a = await keyed(key);
      assert.equal(seen(a), `200 ${SHARE_FROM}`, `${what}, key ${key}: ${a.text.slice(0, 200)}`);
    }
  };
  const stays = (what: string) =>
    until(ctx.propagationMs, `keys of ${what} to stay on ${SHARE_FROM}`, async () => (await keyed(below)).cell === SHARE_FROM);
  ctx.setHealthy(SHARE_TO, false);
  try {
    await stays(`a move to ${SHARE_TO} failing its check`);
    await allStay(`a move to ${SHARE_TO} failing its check`);
  } finally {
    ctx.setHealthy(SHARE_TO, true);
  }
  await until(ctx.propagationMs, `the share back on ${SHARE_TO} once it passes`, async () => (await keyed(below)).cell === SHARE_TO);
  for (const to of ['cell-sm-missing', SHARE_EMPTY_CELL]) {
    await ctx.seed({ markets: { [SHARE_MARKET]: move(to) } });
    await stays(`a move to ${to}`);
    await sleep(WARM_WAIT_MS);
    await allStay(`a move to ${to}`);
  }
  return moved;
}
