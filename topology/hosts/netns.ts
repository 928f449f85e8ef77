/**
 * The network of `cellctl up --hosts` (docs/multi-host.md): one namespace per host, each with
 * one veth link on a bridge in the root namespace, made and removed with iproute2's `ip`.
 * Every name starts with `cs-<run>-`, and each run leaves an owner record (its supervisor's pid
 * and start time) under {@link RECORD_DIR}, so that a later run, or `cellctl up --clean-hosts`,
 * removes whatever a crashed run left: the namespaces and links of every run whose owner is gone.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Host, HostPlan } from './plan.js';

const run = promisify(execFile);

/** Owner records of the runs: `<run>.json`, `{ pid, start }`. */
export const RECORD_DIR = '/run/cellsim/hosts';

/** Runs `ip` with `args`; throws with its stderr on failure. */
export async function ip(args: readonly string[], input?: string): Promise<string> {
  try {
    if (input === undefined) return (await run('ip', args, { timeout: 20_000 })).stdout;
    return await new Promise<string>((resolve, reject) => {
      const child = execFile('ip', args, { timeout: 20_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}${stderr}`)) : resolve(stdout),
      );
      child.stdin?.end(input);
    });
  } catch (err) {
    throw new Error(`ip ${args.join(' ')}: ${(err as Error).message.trim()}`);
  }
}

/** The start time of process `pid` (clock ticks since boot), or undefined when it is gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** The names of every namespace and link that starts with `cs-`, by run id. */
export async function runsPresent(): Promise<Map<string, { namespaces: string[]; links: string[] }>> {
  const byRun = new Map<string, { namespaces: string[]; links: string[] }>();
  const entry = (name: string) => {
    const m = /^cs-([0-9a-f]{4})-/.exec(name);
    if (!m) return undefined;
    if (!byRun.has(m[1]!)) byRun.set(m[1]!, { namespaces: [], links: [] });
    return byRun.get(m[1]!)!;
  };
  for (const line of (await ip(['netns', 'list'])).split('\n')) {
    const name = line.split(' ')[0] ?? '';
    entry(name)?.namespaces.push(name);
  }
  for (const line of (await ip(['-o', 'link', 'show'])).split('\n')) {
    const name = /^\d+: ([^:@\s]+)/.exec(line)?.[1] ?? '';
    entry(name)?.links.push(name);
  }
  return byRun;
}

/** True when the run's owner record names a live process (the same one: pid and start time). */
export function ownerAlive(runId: string): boolean {
  try {
    const rec = JSON.parse(readFileSync(join(RECORD_DIR, `${runId}.json`), 'utf8')) as { pid: number; start: string };
    return startTime(rec.pid) === rec.start;
  } catch {
    return false;
  }
}

/** Removes every namespace and link of run `runId`, and its owner record. Returns what was removed. */
export async function removeRun(runId: string): Promise<string[]> {
  const present = (await runsPresent()).get(runId) ?? { namespaces: [], links: [] };
  const removed: string[] = [];
  for (const ns of present.namespaces) {
    await ip(['netns', 'delete', ns]).catch(() => undefined);
    removed.push(ns);
  }
  // A veth goes with its peer's namespace; the bridge and any veth left are deleted here.
  const left = (await runsPresent()).get(runId)?.links ?? [];
  for (const link of left) {
    await ip(['link', 'delete', link]).catch(() => undefined);
    removed.push(link);
  }
  for (const link of present.links) if (!left.includes(link)) removed.push(link);
  rmSync(join(RECORD_DIR, `${runId}.json`), { force: true });
  return removed;
}

/** Removes what runs whose owner is gone left behind (namespaces, links, records); returns the run ids. */
export async function removeLeftovers(): Promise<string[]> {
  const runs = new Set((await runsPresent()).keys());
  for (const f of safeList(RECORD_DIR)) if (f.endsWith('.json')) runs.add(f.slice(0, -5));
  const gone = [...runs].filter((r) => /^[0-9a-f]{4}$/.test(r) && !ownerAlive(r));
  for (const r of gone) await removeRun(r);
  return gone;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** A run id and a /24 (10.77.<subnet>.0) no other run on this machine uses. */
export async function freshRun(): Promise<{ run: string; subnet: number }> {
  const used = new Set((await ip(['-4', '-o', 'addr', 'show'])).match(/10\.77\.(\d+)\./g)?.map((s) => Number(s.split('.')[2])) ?? []);
  const runs = new Set([...(await runsPresent()).keys(), ...safeList(RECORD_DIR).map((f) => f.slice(0, 4))]);
  for (let i = 0; i < 64; i++) {
    const id = Math.floor(Math.random() * 0x10000)
      .toString(16)
      .padStart(4, '0');
    const subnet = 1 + Math.floor(Math.random() * 254);
    if (!runs.has(id) && !used.has(subnet)) return { run: id, subnet };
  }
  throw new Error('no free run id and 10.77.x.0/24 subnet after 64 tries');
}

/** Makes the bridge, every host's namespace and link; the owner record comes first, so a crash midway is cleaned too. */
export async function createNetwork(plan: HostPlan): Promise<void> {
  mkdirSync(RECORD_DIR, { recursive: true });
  writeFileSync(join(RECORD_DIR, `${plan.run}.json`), JSON.stringify({ pid: process.pid, start: startTime(process.pid) }));
  const root = [
    `link add ${plan.bridge} type bridge`,
    `addr add ${plan.gateway}/${plan.cidr} dev ${plan.bridge}`,
    `link set ${plan.bridge} up`,
  ];
  for (const h of plan.hosts) {
    root.push(`netns add ${h.ns}`, `link add ${h.veth} type veth peer name eth0 netns ${h.ns}`);
    root.push(`link set ${h.veth} master ${plan.bridge}`, `link set ${h.veth} up`);
  }
  await ip(['-batch', '-'], `${root.join('\n')}\n`);
  await Promise.all(plan.hosts.map((h) => hostUp(plan, h)));
}

/**
 * Makes one more host of a running run (a cell added by `cellctl cells add`): its namespace and
 * its link on the run's bridge. Its names carry the run's prefix, so a stop, a later run or
 * `cellctl hosts clean` removes them with the rest, the run's owner record unchanged.
 */
export async function addHost(plan: HostPlan, h: Host): Promise<void> {
  const root = [`netns add ${h.ns}`, `link add ${h.veth} type veth peer name eth0 netns ${h.ns}`];
  root.push(`link set ${h.veth} master ${plan.bridge}`, `link set ${h.veth} up`);
  await ip(['-batch', '-'], `${root.join('\n')}\n`);
  await hostUp(plan, h);
}

/** Removes one host: its namespace (its veth goes with it) and the root side of its link if left. */
export async function removeHost(h: Host): Promise<void> {
  await ip(['netns', 'delete', h.ns]).catch(() => undefined);
  const left = (await ip(['-o', 'link', 'show'])).split('\n').some((l) => /^\d+: ([^:@\s]+)/.exec(l)?.[1] === h.veth);
  if (left) await ip(['link', 'delete', h.veth]);
  if ((await ip(['netns', 'list'])).split('\n').some((l) => l.split(' ')[0] === h.ns)) throw new Error(`namespace ${h.ns} is still there`);
}

async function hostUp(plan: HostPlan, h: Host): Promise<void> {
  const lines = ['link set lo up', `addr add ${h.ip}/${plan.cidr} dev eth0`, 'link set eth0 up'];
  await ip(['-n', h.ns, '-batch', '-'], `${lines.join('\n')}\n`);
}

/** Sets the root side of `host`'s link up or down: down cuts every connection of the host. */
export async function setLink(host: Host, up: boolean): Promise<void> {
  await ip(['link', 'set', host.veth, up ? 'up' : 'down']);
}

/**
 * Cuts (`cut`) or restores the paths between `host` and each of `others`, both ways, their links
 * left up: each side routes the other's address into its own loopback, where the packets die
 * unanswered (no forwarding in a namespace), so a connection times out as across a cut cable and
 * no error comes back. This kernel has no packet filter module a selective cut could use
 * otherwise (docs/multi-host.md §Partitions).
 */
export async function setPaths(host: Host, others: readonly Host[], cut: boolean): Promise<void> {
  // `route del` of a route already gone fails; -force goes on with the batch's next line.
  const batch = (ns: string, ips: string[]) =>
    ip(['-force', '-n', ns, '-batch', '-'], `${ips.map((a) => `route ${cut ? 'replace' : 'del'} ${a}/32 dev lo`).join('\n')}\n`).catch(
      (err) => {
        if (cut) throw err;
      },
    );
  await Promise.all([
    batch(
      host.ns,
      others.map((o) => o.ip),
    ),
    ...others.map((o) => batch(o.ns, [host.ip])),
  ]);
}
