/**
 * Reads k6's `--out json` file (one JSON object per line) and keeps the per-request points of
 * the traffic model (`cellsim_req`) and its failovers (`cellsim_failovers`). Streamed line by
 * line, so a long run's file is never held in memory whole.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** One request as k6 recorded it. Times are epoch milliseconds. */
export interface RequestPoint {
  /** When the request started (answer time minus latency). */
  start: number;
  /** When the answer (or the error) came. */
  end: number;
  /** How long the client waited, ms. */
  ms: number;
  market: string;
  /** The cell that owned the market when the plan was made. */
  owner: string;
  /** The cell that answered (x-cell-id), or the owner when no cell answered. */
  cell: string;
  plane: string;
  replica: string;
  op: string;
  status: number;
  code: string;
  scope: 'faulted' | 'other';
  attempt: string;
  failed: boolean;
}

/** A connection refused by a replica that the client sent to another replica instead. */
export interface FailoverPoint {
  time: number;
  plane: string;
  replica: string;
}

/** Everything the analysis needs from one k6 run. */
export interface K6Points {
  requests: RequestPoint[];
  failovers: FailoverPoint[];
}

interface RawLine {
  type?: string;
  metric?: string;
  data?: { time?: string; value?: number; tags?: Record<string, string> };
}

/** Turns one parsed line into a request point, or undefined for other metrics. */
export function toRequestPoint(line: RawLine): RequestPoint | undefined {
  if (line.type !== 'Point' || line.metric !== 'cellsim_req' || !line.data?.time) return undefined;
  const tags = line.data.tags ?? {};
  const end = Date.parse(line.data.time);
  const ms = Number(line.data.value ?? 0);
  return {
    start: end - ms,
    end,
    ms,
    market: tags.market ?? '',
    owner: tags.owner ?? '',
    cell: tags.cell ?? tags.owner ?? '',
    plane: tags.plane ?? '',
    replica: tags.replica ?? '',
    op: tags.op ?? '',
    status: Number(tags.status ?? 0),
    code: tags.code ?? 'none',
    scope: tags.scope === 'faulted' ? 'faulted' : 'other',
    attempt: tags.attempt ?? 'first',
    failed: tags.ok === 'false',
  };
}

/** Reads every request and failover point of a k6 JSON output file, sorted by start time. */
export async function readPoints(file: string): Promise<K6Points> {
  const requests: RequestPoint[] = [];
  const failovers: FailoverPoint[] = [];
  const rl = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const text of rl) {
    // Cheap filter before JSON.parse: most lines are k6's built-in http_* metrics.
    if (!text.includes('"cellsim_')) continue;
    let line: RawLine;
    try {
      line = JSON.parse(text) as RawLine;
    } catch {
      continue;
    }
    const req = toRequestPoint(line);
    if (req) requests.push(req);
    else if (line.type === 'Point' && line.metric === 'cellsim_failovers' && line.data?.time) {
      failovers.push({ time: Date.parse(line.data.time), plane: line.data.tags?.plane ?? '', replica: line.data.tags?.replica ?? '' });
    }
  }
  requests.sort((a, b) => a.start - b.start);
  return { requests, failovers };
}
