/** CPU time of a process and all its descendants, from /proc/<pid>/stat (Linux). */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc stat times (USER_HZ, 100 on Linux). */
const HZ = 100;

interface Stat {
  pid: number;
  ppid: number;
  ticks: number;
}

function readStat(pid: string): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(rest[1]);
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return { pid: Number(pid), ppid, ticks: utime + stime };
  } catch {
    return undefined;
  }
}

/** User+system CPU milliseconds used so far by `root` and every live descendant of it. */
export function treeCpuMs(root: number): number {
  const all = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(readStat)
    .filter((s): s is Stat => s !== undefined);
  const children = new Map<number, Stat[]>();
  for (const s of all) {
    const list = children.get(s.ppid);
    if (list) list.push(s);
    else children.set(s.ppid, [s]);
  }
  let ticks = 0;
  const stack = all.filter((s) => s.pid === root);
  while (stack.length) {
    const s = stack.pop();
    if (!s) break;
    ticks += s.ticks;
    stack.push(...(children.get(s.pid) ?? []));
  }
  return (ticks * 1000) / HZ;
}
