/**
 * vegeta's own views of a results file: `vegeta report -type=json` (the figures vegeta users
 * know) and `vegeta plot` (its HTML latency plot, linked from drill reports).
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { z } from 'zod';
import { requireBinary } from '../binaries.js';

const run = promisify(execFile);

const ReportSchema = z.object({
  latencies: z.object({
    total: z.number(),
    mean: z.number(),
    '50th': z.number(),
    '90th': z.number(),
    '95th': z.number(),
    '99th': z.number(),
    max: z.number(),
    min: z.number(),
  }),
  duration: z.number(),
  wait: z.number(),
  requests: z.number(),
  rate: z.number(),
  throughput: z.number(),
  success: z.number(),
  status_codes: z.record(z.number()),
  errors: z.array(z.string()).nullable(),
});

/** `vegeta report -type=json`, latencies in ms. */
export interface VegetaReport {
  requests: number;
  /** Requests sent per second. */
  rate: number;
  /** Successful answers per second. */
  throughput: number;
  /** Share of answers with a 2xx/3xx status (0..1). */
  success: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
  statusCodes: Record<string, number>;
  errors: string[];
}

/** Runs `vegeta report -type=json` on a results file. */
export async function vegetaReport(resultsFile: string): Promise<VegetaReport> {
  const { stdout } = await run(requireBinary('vegeta'), ['report', '-type=json', resultsFile], { maxBuffer: 16 * 1024 * 1024 });
  const r = ReportSchema.parse(JSON.parse(stdout));
  const ms = (ns: number) => ns / 1e6;
  return {
    requests: r.requests,
    rate: r.rate,
    throughput: r.throughput,
    success: r.success,
    p50: ms(r.latencies['50th']),
    p90: ms(r.latencies['90th']),
    p95: ms(r.latencies['95th']),
    p99: ms(r.latencies['99th']),
    max: ms(r.latencies.max),
    mean: ms(r.latencies.mean),
    statusCodes: r.status_codes,
    errors: r.errors ?? [],
  };
}

/** Writes `vegeta plot`'s HTML latency plot of a results file. */
export async function vegetaPlot(resultsFile: string, htmlFile: string, title: string): Promise<void> {
  const { stdout } = await run(requireBinary('vegeta'), ['plot', `--title=${title}`, resultsFile], { maxBuffer: 256 * 1024 * 1024 });
  writeFileSync(htmlFile, stdout);
}
