/** The side-by-side table: one row per plane and rate, added latency against direct, ratios router/Envoy. */

/** One measured cell of the comparison. */
export interface PlaneRow {
  rate: number;
  plane: 'direct' | 'router' | 'envoy';
  /** Requests per second completed in the measured phase. */
  achieved: number;
  failedRate: number;
  /** Arrivals k6 could not start (load generator short of VUs). */
  dropped: number;
  p50: number;
  p99: number;
  /** CPU ms of the plane's process tree per 1,000 requests (0 for direct). */
  planeCpuPer1k: number;
  cellCpuPer1k: number;
  k6CpuPer1k: number;
}

const f = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-');
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : '-');

/** Renders the markdown of bench/results.md (also pasted into the README). */
export function renderMarkdown(
  rows: PlaneRow[],
  meta: { command: string; date: string; cpus: number; k6Cpu: string; durationS: number; repeats: number; load: string },
): string {
  const lines = [
    '| rate/s | plane | achieved/s | failed | dropped | p50 ms | p99 ms | added p50 ms | added p99 ms | plane CPU ms/1k req | cell CPU ms/1k req | k6 CPU ms/1k req |',
    '| -----: | ----- | ---------: | -----: | ------: | -----: | -----: | -----------: | -----------: | ------------------: | -----------------: | ---------------: |',
  ];
  const ratios = [
    '| rate/s | added p50 router/Envoy | added p99 router/Envoy | CPU/1k router/Envoy |',
    '| -----: | ---------------------: | ---------------------: | ------------------: |',
  ];
  for (const rate of [...new Set(rows.map((r) => r.rate))]) {
    const at = rows.filter((r) => r.rate === rate);
    const direct = at.find((r) => r.plane === 'direct');
    for (const r of at) {
      const added = (x: number, y: number | undefined) => (r.plane === 'direct' || y === undefined ? '-' : f(x - y));
      lines.push(
        `| ${rate} | ${r.plane} | ${f(r.achieved, 0)} | ${f(r.failedRate * 100, 2)}% | ${r.dropped} | ${f(r.p50)} | ${f(r.p99)} | ${added(r.p50, direct?.p50)} | ${added(r.p99, direct?.p99)} | ${r.plane === 'direct' ? '-' : f(r.planeCpuPer1k, 0)} | ${f(r.cellCpuPer1k, 0)} | ${f(r.k6CpuPer1k, 0)} |`,
      );
    }
    const router = at.find((r) => r.plane === 'router');
    const envoy = at.find((r) => r.plane === 'envoy');
    if (router && envoy && direct) {
      ratios.push(
        `| ${rate} | ${ratio(router.p50 - direct.p50, envoy.p50 - direct.p50)} | ${ratio(router.p99 - direct.p99, envoy.p99 - direct.p99)} | ${ratio(router.planeCpuPer1k, envoy.planeCpuPer1k)} |`,
      );
    }
  }
  return [
    `Measured ${meta.date} with \`${meta.command}\` on this ${meta.cpus}-core machine: the same \`GET /v1/orders/:id\` of one order in one cell, ${meta.durationS} s per row at a fixed arrival rate (k6 constant-arrival-rate after a 2 s warm-up), k6 pinned to CPU ${meta.k6Cpu} with GOMAXPROCS=1; best (lowest p99) of ${meta.repeats} runs per row, planes in rotating order; 1-minute load average ${meta.load}. Router: one worker. Envoy: one worker thread (\`--concurrency 1\`), configured by the xDS control plane. "dropped" counts arrivals k6 could not start (no free VU: the plane could not keep up). "added" is the plane's latency minus direct-to-cell at the same rate; CPU is user+system time of the process tree (from /proc/<pid>/stat) per 1,000 requests.`,
    '',
    ...lines,
    '',
    ...ratios,
    '',
  ].join('\n');
}
