/** What `cellctl up` prints once ready: the status table and how to send a first request. */
import Table from 'cli-table3';
import { hostsTable } from './hosts/lifecycle.js';

interface Described {
  consul: { url: string; pid: number | null };
  controlPlane: { url: string; xds: string; pid: number | null };
  supervisor: { url: string; pid: number };
  routers: { id: string; url?: string; pid: number | null }[];
  envoys: { id: string; url?: string; admin: string; pid: number | null }[];
  cells: {
    id: string;
    url?: string;
    pid: number | null;
    /** Under `cellctl up --log kafka`: the cell's broker. */
    kafka?: { name: string; bootstrap?: string; pid: number | null; state: string };
    /** Under `cellctl up --log kafka`: the cell's delivery service instances (the cell row is its order service). */
    delivery?: { name: string; url?: string; pid: number | null; state: string }[];
    canary: boolean;
    global: boolean;
    instances: { version?: string; color?: string }[];
  }[];
  markets: { id: string; cell: string | null }[];
  /** Under `cellctl up --hosts`. */
  hosts?: unknown;
}

/** The status table of every component. */
export function statusTable(t: Record<string, unknown>): string {
  const d = t as unknown as Described;
  const table = new Table({ head: ['component', 'id', 'url', 'pid', 'notes'] });
  table.push(['consul', 'consul', d.consul.url, String(d.consul.pid ?? '-'), '']);
  for (const c of d.cells) {
    const markets = d.markets.filter((m) => m.cell === c.id).length;
    const inst = c.instances[0];
    const notes = [c.canary ? 'canary' : '', c.global ? 'global' : '', `${markets} markets`, `${inst?.version ?? ''} ${inst?.color ?? ''}`]
      .filter(Boolean)
      .join(', ');
    table.push(['cell', c.id, c.url ?? '-', String(c.pid ?? '-'), c.delivery ? `order service, ${notes}` : notes]);
    for (const k of c.delivery ?? []) table.push(['delivery', k.name, k.url ?? '-', String(k.pid ?? '-'), `${c.id}'s delivery service`]);
    if (c.kafka) table.push(['kafka', c.kafka.name, c.kafka.bootstrap ?? '-', String(c.kafka.pid ?? '-'), `${c.id}'s log (KRaft)`]);
  }
  table.push(['control plane', 'cp-1', d.controlPlane.url, String(d.controlPlane.pid ?? '-'), `xDS ${d.controlPlane.xds}`]);
  for (const r of d.routers) table.push(['router', r.id, r.url ?? '-', String(r.pid ?? '-'), '']);
  for (const e of d.envoys) table.push(['envoy', e.id, e.url ?? '-', String(e.pid ?? '-'), `admin ${e.admin}`]);
  table.push(['supervisor', 'cellctl up', d.supervisor.url, String(d.supervisor.pid), 'control channel']);
  return d.hosts ? `${table.toString()}\n${hostsTable(d.hosts)}` : table.toString();
}

/** How to send a first request through a router and through Envoy, and what to try next. */
export function firstSteps(t: Record<string, unknown>, dataDir: string): string {
  const d = t as unknown as Described;
  const router = d.routers[0]?.url ?? 'http://127.0.0.1:8080';
  const envoy = d.envoys[0]?.url ?? 'http://127.0.0.1:10000';
  const market = d.markets.find((m) => m.id === 'sf')?.id ?? d.markets[0]?.id ?? 'sf';
  const body = `'{"customerId":"c-1","items":[{"sku":"burrito","qty":1,"priceCents":1299}],"address":"1 Market St"}'`;
  const curl = (base: string, key: string) =>
    `  curl -s -X POST ${base}/v1/orders -H 'x-market-id: ${market}' -H 'idempotency-key: ${key}' -H 'content-type: application/json' -d ${body}`;
  return [
    `Operator console: ${d.controlPlane.url}/ui/ (log in with the token in ${dataDir}/tokens/operator, or tokens/read to only look)`,
    '',
    'First request through a router, then through Envoy:',
    curl(router, 'first-order'),
    curl(envoy, 'first-order-envoy'),
    '',
    `Then (export CELLSIM_DATA=${dataDir} in another shell):`,
    '  npx cellctl status',
    `  npx cellctl migrate ${market} --to ${d.cells.find((c) => !c.canary && c.id !== d.markets.find((m) => m.id === market)?.cell)?.id ?? 'cell-1'}`,
    '  npx cellctl rollout v2 --bake 20s --allow-idle   # --allow-idle: no traffic yet (an idle bake fails otherwise)',
    '',
  ].join('\n');
}
