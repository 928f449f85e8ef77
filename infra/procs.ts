/**
 * What the supervisor and the drills read from Linux's /proc about processes: the members of a process
 * group (with their run state, so a SIGSTOPped one shows), which of them holds the listening
 * socket of a port, who else holds a port the supervisor wants (for a one-line report), and a
 * process's resident memory (the soak samples it).
 * Every reader tolerates processes vanishing under it and answers "nothing" off Linux.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** One process as /proc/<pid>/stat describes it. */
export interface ProcInfo {
  pid: number;
  ppid: number;
  pgid: number;
  /** R running, S sleeping, D disk, T stopped (SIGSTOP), t traced, Z zombie, ... */
  state: string;
  comm: string;
  /** When it started (clock ticks since boot): with the pid, names one process even after pids wrap. */
  startTime: string;
}

/** /proc/<pid>/stat parsed, or undefined when the process is gone. */
export function readProc(pid: number): ProcInfo | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm is in parentheses and may itself contain spaces and parentheses: split at the last ')'.
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ');
  return {
    pid,
    comm: text.slice(text.indexOf('(') + 1, close),
    state: rest[0] ?? '?',
    ppid: Number(rest[1]),
    pgid: Number(rest[2]),
    startTime: rest[19] ?? '?',
  };
}

function allPids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    return [];
  }
}

/** The live (not zombie) members of process group `pgid`, leader first when it lives. */
export function groupMembers(pgid: number): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const pid of allPids()) {
    const p = readProc(pid);
    if (p && p.pgid === pgid && p.state !== 'Z' && p.state !== 'X') out.push(p);
  }
  return out.sort((a, b) => (a.pid === pgid ? -1 : b.pid === pgid ? 1 : a.pid - b.pid));
}

/**
 * SIGKILL to every member of process group `pgid`, children before their parents: each level
 * is given up to `levelMs` to be reaped by its still-living parent before the parents die.
 * Killed all at once, a child that outlives its parent by a moment is orphaned to PID 1, and
 * where PID 1 reaps nothing (some containers and microVMs) it stays a zombie for good. A last
 * SIGKILL to the group takes whatever was forked meanwhile.
 */
export async function killGroupLeavesFirst(pgid: number, levelMs = 200): Promise<void> {
  const members = groupMembers(pgid);
  const byPid = new Map(members.map((p) => [p.pid, p]));
  const depth = (p: ProcInfo): number => {
    let d = 0;
    for (let q = byPid.get(p.ppid); q && d < 64; q = byPid.get(q.ppid)) d++;
    return d;
  };
  const levels = new Map<number, number[]>();
  for (const p of members) levels.set(depth(p), [...(levels.get(depth(p)) ?? []), p.pid]);
  for (const level of [...levels.keys()].sort((a, b) => b - a)) {
    const pids = levels.get(level)!;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const until = Date.now() + levelMs; Date.now() < until && pids.some((pid) => readProc(pid));) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    /* nothing left */
  }
}

/** VmRSS of `pid` in kB, or undefined when the process is gone (or has no memory of its own). */
export function readRssKb(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** The command line of `pid`, spaces for NULs, or '' when unreadable. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

const LISTEN = '0A';

/**
 * The TCP sockets (IPv4 and IPv6) bound to local `port`: state code and inode ('0' when no process
 * holds it); in the network namespace of process `pid` when given, else in this process's.
 */
function socketsOnPort(port: number, pid?: number): { state: string; inode: string }[] {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const out: { state: string; inode: string }[] = [];
  const net = pid === undefined ? '/proc/net' : `/proc/${pid}/net`;
  for (const file of [`${net}/tcp`, `${net}/tcp6`]) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(`:${hex}`)) out.push({ state: f[3] ?? '', inode: f[9] ?? '0' });
    }
  }
  return out;
}

/** Socket inodes bound to local `port` (TCP, IPv4 and IPv6); only LISTEN ones when `listening`. */
export function socketInodes(port: number, listening: boolean): Set<string> {
  return new Set(
    socketsOnPort(port)
      .filter((s) => s.inode !== '0' && (!listening || s.state === LISTEN))
      .map((s) => s.inode),
  );
}

/** The pids among `candidates` (default: every process) with an open fd on one of `inodes`. */
export function socketHolders(inodes: Set<string>, candidates?: number[]): number[] {
  if (inodes.size === 0) return [];
  const out: number[] = [];
  for (const pid of candidates ?? allPids()) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1]!)) {
        out.push(pid);
        break;
      }
    }
  }
  return out;
}

/**
 * The member of group `pgid` that listens on `port`: the one nearest the group leader when
 * several hold the socket (a node:cluster primary and its workers), undefined when none does.
 */
export function listenerIn(pgid: number, port: number, members: ProcInfo[] = groupMembers(pgid)): number | undefined {
  // Members may listen in another network namespace than this process's (`ip netns exec` under
  // `cellctl up --hosts`), whose sockets /proc/net does not list: the table of each namespace of
  // the group is read once, through a member in it.
  const inodes = new Set<string>();
  const namespaces = new Set<string>();
  for (const m of members) {
    let ns: string;
    try {
      ns = readlinkSync(`/proc/${m.pid}/ns/net`);
    } catch {
      continue;
    }
    if (namespaces.has(ns)) continue;
    namespaces.add(ns);
    for (const s of socketsOnPort(port, m.pid)) if (s.inode !== '0' && s.state === LISTEN) inodes.add(s.inode);
  }
  const holders = new Set(
    socketHolders(
      inodes,
      members.map((m) => m.pid),
    ),
  );
  if (holders.size === 0) return undefined;
  const byPid = new Map(members.map((m) => [m.pid, m]));
  const depth = (pid: number) => {
    let d = 0;
    for (let p = byPid.get(pid); p && p.pid !== pgid && d < 64; p = byPid.get(p.ppid)) d++;
    return d;
  };
  return [...holders].sort((a, b) => depth(a) - depth(b) || a - b)[0];
}

const TCP_STATES: Record<string, string> = {
  '01': 'ESTABLISHED',
  '02': 'SYN_SENT',
  '03': 'SYN_RECV',
  '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '09': 'LAST_ACK',
  '0A': 'LISTEN',
  '0B': 'CLOSING',
};

/** The states of the TCP sockets bound to local `port` that no process holds (left by a killed one). */
function orphanSocketStates(port: number): string[] {
  return socketsOnPort(port)
    .filter((s) => s.inode === '0')
    .map((s) => TCP_STATES[s.state] ?? `state ${s.state}`);
}

/** Who holds `port` (listening first, else any socket bound to it), for a report: `pid 123 (python3 -m http.server 9102)`. */
export function describePortHolders(port: number): string {
  const holders = socketHolders(socketInodes(port, true));
  const any = holders.length ? holders : socketHolders(socketInodes(port, false));
  if (any.length === 0) {
    const orphans = orphanSocketStates(port);
    if (orphans.length) return `no process: ${orphans.length} kernel socket(s) still closing (${[...new Set(orphans)].join(', ')})`;
    return 'a process this user cannot see (or a socket of another network namespace)';
  }
  return any
    .slice(0, 3)
    .map((pid) => `pid ${pid} (${commandLine(pid).slice(0, 80) || readProc(pid)?.comm || '?'})`)
    .join(', ');
}
