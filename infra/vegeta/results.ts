/**
 * vegeta's per-request results as `vegeta encode --to json` writes them: one JSON object per
 * line. Validated line by line (an unreadable line is an error naming its number), and read as
 * a stream so a long run's file is never held in memory whole.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { z } from 'zod';

const ResultSchema = z.object({
  seq: z.number().int().nonnegative(),
  code: z.number().int().nonnegative(),
  timestamp: z.string().min(1),
  /** Nanoseconds. */
  latency: z.number().nonnegative(),
  bytes_out: z.number().nonnegative(),
  bytes_in: z.number().nonnegative(),
  error: z.string(),
  body: z.string().nullable().optional(),
  method: z.string(),
  url: z.string(),
  headers: z.record(z.array(z.string())).nullable().optional(),
});

/** One request as vegeta recorded it. Times in epoch ms (fractional). */
export interface VegetaResult {
  seq: number;
  /** HTTP status; 0 when no answer came (see `error`). */
  code: number;
  /** When the request was sent. */
  start: number;
  /** How long until the answer (or the error), ms. */
  latencyMs: number;
  bytesIn: number;
  bytesOut: number;
  /** vegeta's error text ('' when none; for a non-2xx answer, the status line). */
  error: string;
  method: string;
  url: string;
  /** Response headers, names lower-cased. */
  headers: Record<string, string>;
  /** The captured response body (up to `-max-body`). */
  body: Buffer;
}

/** vegeta's result for "the target stream ended", written once at the end of a lazy attack. */
const NO_TARGETS = 'no targets to attack';

/** RFC 3339 with nanoseconds → epoch ms with the sub-ms part kept. */
function epochMs(ts: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  if (!m) return Number.NaN;
  const whole = Date.parse(`${m[1]}${m[3]}`);
  return whole + Number(`0.${m[2] ?? '0'}`) * 1000;
}

/** Parses one line; undefined for the end-of-targets marker; throws with the reason otherwise. */
export function parseResult(line: string): VegetaResult | undefined {
  const parsed = ResultSchema.safeParse(JSON.parse(line));
  if (!parsed.success) {
    throw new Error(parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  }
  const r = parsed.data;
  if (r.method === '' && r.error === NO_TARGETS) return undefined;
  const start = epochMs(r.timestamp);
  if (!Number.isFinite(start)) throw new Error(`timestamp: not RFC 3339: ${r.timestamp}`);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = v.join(', ');
  return {
    seq: r.seq,
    code: r.code,
    start,
    latencyMs: r.latency / 1e6,
    bytesIn: r.bytes_in,
    bytesOut: r.bytes_out,
    error: r.error,
    method: r.method,
    url: r.url,
    headers,
    body: r.body ? Buffer.from(r.body, 'base64') : Buffer.alloc(0),
  };
}

/** Streams the results of a JSON-lines input (a file path or a stream). */
export async function* readResults(input: string | Readable): AsyncGenerator<VegetaResult> {
  const stream = typeof input === 'string' ? createReadStream(input, 'utf8') : input;
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  let n = 0;
  for await (const text of rl) {
    n++;
    if (!text.trim()) continue;
    let r: VegetaResult | undefined;
    try {
      r = parseResult(text);
    } catch (err) {
      throw new Error(`vegeta result line ${n}: ${(err as Error).message}`);
    }
    if (r) yield r;
  }
}

/** True when vegeta never reached the server: nothing was sent, so another replica may take it. */
export function notSent(r: VegetaResult): boolean {
  return r.code === 0 && /connection refused|no such host|network is unreachable/i.test(r.error);
}

/**
 * The error code of an answer: the contract's JSON code (`{"error":{"code":...}}`) when there is
 * one, `http_<status>` otherwise, a transport code when nothing answered, `none` below 400.
 */
export function answerCode(r: VegetaResult): string {
  if (r.code === 0) return transportCode(r);
  if (r.code < 400) return 'none';
  try {
    const body = JSON.parse(r.body.toString('utf8')) as { error?: { code?: unknown } };
    if (typeof body.error?.code === 'string') return body.error.code;
  } catch {
    /* not JSON */
  }
  return `http_${r.code}`;
}

/** A short stable code for a request that got no HTTP answer ('' when it got one). */
export function transportCode(r: VegetaResult): string {
  if (r.code !== 0) return '';
  const e = r.error.toLowerCase();
  if (e.includes('connection refused')) return 'net_refused';
  if (e.includes('timeout') || e.includes('deadline exceeded')) return 'net_timeout';
  if (e.includes('connection reset') || e.includes('broken pipe')) return 'net_reset';
  if (e.includes('eof')) return 'net_eof';
  return 'net_error';
}
