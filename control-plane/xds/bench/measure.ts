/** Measuring helpers of the xDS benchmark: RSS of a process tree member, Prometheus text sums, percentiles, KV writes. */
import { readFileSync } from 'node:fs';
import { ConsulClient, txnSet, type TxnKvOp } from '../../../shared/consul/client.js';
import { undiciTransport } from '../../../shared/consul/undici.js';

/** Resident set size of `pid`, MB. */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The first descendant of `root` whose command name is `comm` (e.g. the envoy under cellctl under the watchdog). */
export function findDescendant(root: number, comm: string): number | undefined {
  const children = (pid: number): number[] => {
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  const queue = [root];
  while (queue.length) {
    const pid = queue.shift()!;
    try {
      if (pid !== root && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm) return pid;
    } catch {
      continue;
    }
    queue.push(...children(pid));
  }
  return undefined;
}

/** Sum of every sample of a metric (all label sets) in Prometheus text. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Percentile of `values` by nearest rank (q in 0..1; p99 of 100 values is the 99th smallest). */
export function pct(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
}

/** Writes market records m-<from>..m-<to-1> in Consul transactions (64 ops each, 8 in parallel). */
export async function putMarkets(
  consul: string,
  from: number,
  to: number,
  cellOf: (i: number) => string,
  prefix = 'cellsim/',
): Promise<void> {
  const batches: TxnKvOp[][] = [];
  for (let i = from; i < to; i += 64) {
    const ops = [];
    for (let j = i; j < Math.min(to, i + 64); j++) {
      ops.push(txnSet(`${prefix}markets/m-${j}`, JSON.stringify({ cell: cellOf(j), state: 'active', epoch: 1 })));
    }
    batches.push(ops);
  }
  const client = new ConsulClient({ url: consul, transport: undiciTransport() });
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < batches.length) {
        const r = await client.kv.txn(batches[next++]!);
        if (!r.ok) throw new Error(`txn rolled back: ${r.errors.map((e) => e.what).join('; ')}`);
      }
    }),
  );
}
