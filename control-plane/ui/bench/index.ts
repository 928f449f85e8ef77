/**
 * `npm run bench:console`: the console's first contentful paint in Debian's chromium, page by
 * page, at a small and a large market map side by side in one run (`BENCH_SIZES`, default
 * 1,000 and 100,000 markets). Each size has its own real Consul and real control plane, up at
 * once (./rig.ts, the rig of control-plane/ui/scale.test.ts); one chromium holds a logged-in
 * console on each. After one untimed visit of every page on each size (a warm cache for the
 * shared static files, as a second visit has), `BENCH_ROUNDS` (9) rounds visit every page on
 * every size, the sizes' order swapped each round; per page and size the median and the max, and
 * the largest map against the smallest: the ratio of the medians, and the median of each round's
 * ratio of two paints measured back to back, which holds on a noisy machine where absolute times
 * do not. Also each control plane's RSS after the rounds and the time it took to
 * hold its map. Writes bench/console.md (infra/harness/bench-results.ts).
 */
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { benchCommand, benchSizes, loadAverage, writeResults } from '../../../infra/harness/bench-results.js';
import { ProcessScope } from '../../../infra/process.js';
import { marketId } from '../../../loadtest/bench/propagation-rig.js';
import { findDescendant, pct, rssMb } from '../../xds/bench/measure.js';
import { PAGE_SIZE } from '../market-page.js';
import { firstPaint, frozenMarkets, launchChromium, openConsole, startConsoleRig, type ConsoleRig } from './rig.js';

const RESULTS = fileURLToPath(new URL('../../../bench/console.md', import.meta.url));
const SIZES = benchSizes('1000,100000', 10);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 9));

const log = (msg: string) => process.stderr.write(`[bench:console ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : '-');
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
const sizeLabel = (n: number) => n.toLocaleString('en');
const median = (xs: number[]) => pct(xs, 0.5);

/** One console page as the bench names it, and its path on a map of `size` markets. */
interface ConsolePage {
  label: string;
  path: (size: number) => string;
}

/** The search of the last ten markets of a map of `n` (`m-09999` at 100,000, `m-00099` at 1,000). */
const searchPath = (n: number) => `/ui/markets?q=${marketId(n - 1).slice(0, -1)}`;
/** cell-b's last page of a map of `n` (cells alternate: n/2 markets, PAGE_SIZE a page). */
const farPath = (n: number) => `/ui/markets?cell=cell-b&page=${Math.max(1, Math.ceil(Math.floor(n / 2) / PAGE_SIZE))}`;

/** Seven console pages, each asking the same of every map: the search finds ten markets, the filter 100, the far page is the last. */
const PAGES: ConsolePage[] = [
  { label: 'Overview `/ui/`', path: () => '/ui/' },
  { label: 'Markets, page 1 `/ui/markets`', path: () => '/ui/markets' },
  { label: 'search, 10 matches `?q=…`', path: searchPath },
  { label: 'state filter `?state=frozen`', path: () => '/ui/markets?state=frozen' },
  { label: "far page: cell-b's last `?cell=cell-b&page=…`", path: farPath },
  { label: 'Operations `/ui/operations`', path: () => '/ui/operations' },
  { label: 'Audit `/ui/audit`', path: () => '/ui/audit' },
];

/** A size's rig and the logged-in console on it. */
interface Side {
  rig: ConsoleRig;
  page: Page;
  /** First paints per page label, ms, one per round. */
  paints: Map<string, number[]>;
}

/** One paint of `p` on `side`; the page is left blank after it, so no live stream runs while the other side is measured. */
async function measure(side: Side, p: ConsolePage): Promise<number> {
  const ms = await firstPaint(side.page, `${side.rig.base}${p.path(side.rig.markets)}`);
  await side.page.goto('about:blank');
  return ms;
}

/** Each round's paint of `label` on `big` over its paint on `small`: the two were measured back to back, under the same load. */
function pairedRatios(small: Side, big: Side, label: string): number[] {
  const a = small.paints.get(label) ?? [];
  return (big.paints.get(label) ?? []).map((ms, r) => ms / a[r]!);
}

function rows(sides: Side[]): string[][] {
  const first = sides[0]!;
  const last = sides.at(-1)!;
  const two = sides.length > 1;
  const out = PAGES.map((p) => {
    const at = (s: Side) => s.paints.get(p.label) ?? [];
    return [
      p.label,
      ...sides.map((s) => `${f0(median(at(s)))} / ${f0(Math.max(...at(s)))}`),
      two ? `${f2(median(at(last)) / median(at(first)))}×` : '-',
      two ? `${f2(median(pairedRatios(first, last, p.label)))}×` : '-',
      at(last).map(f0).join(', '),
    ];
  });
  const all = (s: Side) => PAGES.flatMap((p) => s.paints.get(p.label) ?? []);
  out.push([
    'all pages',
    ...sides.map((s) => `${f0(median(all(s)))} / ${f0(Math.max(...all(s)))}`),
    two ? `${f2(median(all(last)) / median(all(first)))}×` : '-',
    two ? `${f2(median(PAGES.flatMap((p) => pairedRatios(first, last, p.label))))}×` : '-',
    '',
  ]);
  return out;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const loadBefore = loadAverage();
  const scope = new ProcessScope();
  await scope.run(async () => {
    const browser = await launchChromium(); // first: a missing chromium fails before anything starts
    try {
      const rigs: ConsoleRig[] = [];
      for (const size of SIZES) {
        log(`Consul and control plane with ${sizeLabel(size)} markets`);
        const rig = await startConsoleRig(scope, { markets: size, name: `console-bench-${size}` });
        log(`the control plane holds ${sizeLabel(size)} markets (${f1(rig.heldS)} s after its start)`);
        rigs.push(rig);
      }
      await bench(rigs, browser, t0, loadBefore);
    } finally {
      await browser.close();
    }
  });
}

async function bench(rigs: ConsoleRig[], browser: Browser, t0: number, loadBefore: number[]): Promise<void> {
  const sides: Side[] = [];
  for (const rig of rigs) sides.push({ rig, page: await openConsole(browser, rig.base), paints: new Map(PAGES.map((p) => [p.label, []])) });
  log('one untimed visit of every page on each size');
  for (const p of PAGES) for (const side of sides) await measure(side, p);
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? sides : [...sides].reverse();
    for (const p of PAGES) for (const side of order) side.paints.get(p.label)!.push(await measure(side, p));
    log(
      `round ${r + 1} of ${ROUNDS}: ` +
        sides.map((s) => `${sizeLabel(s.rig.markets)}: ${PAGES.map((p) => f0(s.paints.get(p.label)!.at(-1)!)).join(' ')} ms`).join('; '),
    );
  }
  const rss = sides.map((s) => {
    const pid = findDescendant(s.rig.cp.proc.pid, 'node'); // under the process's watchdog shell
    return pid === undefined ? NaN : rssMb(pid);
  });

  const big = sizeLabel(sides.at(-1)!.rig.markets);
  const small = sizeLabel(sides[0]!.rig.markets);
  const head = [
    'page',
    ...sides.map((s) => `${sizeLabel(s.rig.markets)} markets, median / max ms`),
    `${big} / ${small}, medians`,
    `${big} / ${small}, median of paired rounds`,
    `${big}: each round, ms`,
  ];
  const md = writeResults(
    RESULTS,
    {
      title: 'bench:console — first contentful paint of each console page, small and large market map side by side',
      command: benchCommand('bench:console'),
      loadBefore,
      settings:
        `none: one headless chromium (Debian's package, playwright-core), one console page per size; ${ROUNDS} rounds after one untimed visit of every page, ` +
        `each page visited on every size in turn, the sizes' order swapped each round; sizes ${SIZES.map(sizeLabel).join(', ')}`,
      about: [
        'Per size a real Consul (`-dev`) holding cell-a, cell-b and the markets (`m-000000` …, cells alternating, evenly spread ones ' +
          `frozen: ${SIZES.map((n) => `${frozenMarkets(n).length} of ${sizeLabel(n)}`).join(', ')}), and the real control plane ` +
          '(`cellctl control-plane`) following it and serving the console; both sizes up at once. The figure is the whole stack: the server ' +
          'cutting the page from its market map, rendering it, and chromium painting it (docs/console.md).',
      ],
    },
    [
      {
        head,
        rows: rows(sides),
        notes: [
          "Method: the first contentful paint is chromium's `first-contentful-paint` performance entry, ms from the navigation's start, " +
            "read after `page.goto` of the page's URL in a logged-in console (its own browser context per size); the page is then left for " +
            '`about:blank`, so no Overview live stream runs while the other size is measured. The search asks for the last ten markets of ' +
            `each map, the \`frozen\` filter finds 100 at every size and the far page is cell-b's last (${SIZES.map((n) => `\`${searchPath(n).slice(11)}\` and \`${farPath(n).slice(11)}\` at ${sizeLabel(n)}`).join('; ')}), ` +
            'so each page asks the same of every map. The ratios are what a larger map costs a page; on this shared 2-core machine they hold ' +
            'better than the milliseconds, which move with the load average. "Median of paired rounds" takes, per round, the page\'s paint ' +
            'on the larger map over its paint on the smaller, the two measured back to back under the same load, and gives the median ' +
            'of those ratios (over every page and round in the last row): the figure least moved by the load changing between rounds.',
        ],
      },
      {
        title: 'The control planes',
        head: ['measure', ...sides.map((s) => `${sizeLabel(s.rig.markets)} markets`)],
        rows: [
          ['control plane start → its follower holds the map, s', ...sides.map((s) => f1(s.rig.heldS))],
          ['control plane RSS after the rounds, MB', ...rss.map(f1)],
        ],
        notes: [`Total ${f0((Date.now() - t0) / 1000)} s.`],
      },
    ],
  );
  process.stdout.write(
    `${md}\nload average at start ${loadBefore.map(f2).join(' ')}, at end ${loadAverage().map(f2).join(' ')}; total ${f0((Date.now() - t0) / 1000)} s; written to ${RESULTS}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:console failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
