/**
 * `npm run bench:tls`: the cost of TLS (docs/tls.md), plain and TLS side by side in one run. Two
 * stacks of loadtest/bench/stack.ts are up at once, one plain and one with TLS on every hop it has
 * (mutual TLS from the router and from Envoy to the cell, SDS, xDS over TLS); the same read of the
 * same order goes through the router and through Envoy of each, at fixed rates, the four runs of a
 * round interleaved and the best of the repeats kept. Reports the added p99 and the added CPU per
 * request of the plane and of the cell. Writes bench/tls.md.
 */
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchCommand, loadAverage, writeResults, type TableCell } from '../../infra/harness/bench-results.js';
import { measure, type Measurement, type Plane } from './run.js';
import { startBenchStack, type BenchStack } from './stack.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PLANES: readonly Plane[] = ['router', 'envoy'];
const MODES = ['plain', 'tls'] as const;
type Mode = (typeof MODES)[number];

const perReq = (cpuMs: number, m: Measurement) => (m.ok > 0 ? cpuMs / m.ok : NaN);
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
const f3 = (n: number) => (Number.isFinite(n) ? n.toFixed(3) : 'n/a');

async function main(): Promise<void> {
  const num = (name: string, dflt: number) => Number(process.env[name] ?? dflt);
  const rates = (process.env.CELLSIM_BENCH_RATES ?? '200,500')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  const warmS = num('CELLSIM_BENCH_WARM_SECONDS', 2);
  const durationS = num('CELLSIM_BENCH_SECONDS', 8);
  const repeats = Math.max(1, num('CELLSIM_BENCH_REPEAT', 2));
  const vegetaCpus = String(Math.max(0, cpus().length - 1));
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const loadBefore = loadAverage();
  log('starting two stacks (plain and TLS): cell, router, control plane, Envoy, Consul each');
  const stacks = new Map<Mode, BenchStack>();
  const rows: TableCell[][] = [];
  const added: TableCell[][] = [];
  try {
    stacks.set('plain', await startBenchStack({ name: 'bench-plain' }));
    stacks.set('tls', await startBenchStack({ name: 'bench-tls', tls: true }));
    for (const rate of rates) {
      for (const plane of PLANES) {
        const best = new Map<Mode, Measurement>();
        for (let r = 0; r < repeats; r++) {
          for (const mode of r % 2 === 0 ? MODES : [...MODES].reverse()) {
            const m = await measure(stacks.get(mode)!, plane, { pace: { rate }, warmS, durationS, vegetaCpus });
            log(`${plane} ${mode} at ${rate}/s (run ${r + 1}): p50 ${f2(m.p50)} ms, p99 ${f2(m.p99)} ms, ${m.failed} failed`);
            const kept = best.get(mode);
            if (!kept || m.p99 < kept.p99) best.set(mode, m);
          }
        }
        const p = best.get('plain')!;
        const t = best.get('tls')!;
        for (const [mode, m] of [
          ['plain', p],
          ['tls', t],
        ] as const) {
          rows.push([plane, mode, rate, m.ok, m.failed, f2(m.p50), f2(m.p99), f3(perReq(m.planeCpuMs, m)), f3(perReq(m.cellCpuMs, m))]);
        }
        added.push([
          plane,
          rate,
          f2(t.p99 - p.p99),
          f3(perReq(t.planeCpuMs, t) - perReq(p.planeCpuMs, p)),
          f3(perReq(t.cellCpuMs, t) - perReq(p.cellCpuMs, p)),
        ]);
      }
    }
  } finally {
    for (const s of stacks.values()) await s.close();
  }
  const out = join(ROOT, 'bench', 'tls.md');
  const md = writeResults(
    out,
    {
      title: 'The cost of TLS',
      command: benchCommand('bench:tls'),
      loadBefore,
      settings: `vegeta 12, pinned to CPU ${vegetaCpus} with GOMAXPROCS=1; fixed rates ${rates.join(', ')}/s, ${warmS} s warm-up + ${durationS} s measured, best p99 of ${repeats} (plain and TLS interleaved)`,
      about: [
        'The same `GET /v1/orders/:id` of one order in one cell, through the Node router (one worker) and through Envoy (`--concurrency 1`), on two stacks up at once: plain HTTP, and TLS on every hop the stack has (mutual TLS router → cell and Envoy → cell with certificates of the local CA, Envoy’s certificate by SDS, xDS over TLS; docs/tls.md). Client to edge is plain HTTP on both. CPU per request is the process tree’s user+system CPU (/proc/<pid>/stat) over the measured window divided by the 2xx answers.',
      ],
    },
    [
      {
        title: 'Plain and TLS side by side',
        head: ['plane', 'mode', 'rate/s', 'ok', 'failed', 'p50 ms', 'p99 ms', 'plane CPU ms/req', 'cell CPU ms/req'],
        rows,
      },
      {
        title: 'What TLS adds',
        head: ['plane', 'rate/s', 'added p99 ms', 'added plane CPU ms/req', 'added cell CPU ms/req'],
        rows: added,
        notes: [
          'Differences of the rows above (TLS minus plain). Keep-alive connections mean the handshake cost is paid rarely; what remains is the record encryption on both ends.',
        ],
      },
    ],
  );
  process.stdout.write(`${md}\nwritten to ${out}\n`);
}

await main();
