/**
 * When a host's link actually went down. A network drill asks the supervisor to cut a host and
 * the call returns when the cut is done; on a loaded machine that took 1.8–7.6 s (the
 * supervisor's event loop, not `ip`, which takes milliseconds), and a time to isolate counted
 * from the call measures the harness. `ip -ts -o monitor link` (root namespace, where the root
 * side of every host's veth lives) stamps the kernel's link event as it reads it. The same
 * watch tells when a restored link came up (host-partition's Consul verdict counts from there).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A watch on one run's links. */
export interface LinkWatch {
  /** Epoch ms of the first link of the run seen going down (or up); undefined when none was within the bound. */
  down: Promise<number | undefined>;
  /** Stops the watch (the monitor process is killed). */
  stop(): void;
}

/**
 * One `ip -ts -o monitor link` line: the epoch ms it was stamped at when it says a link of
 * `prefix` is down (or, with `up`, administratively up again: its flags carry `UP`).
 */
export function linkEventAt(line: string, prefix: string, up: boolean): number | undefined {
  const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?)\d*\]\s+(?!Deleted)\d+:\s+(\S+?)(?:@\S+)?:\s+<([^>]*)>/.exec(line);
  if (!m || !m[2]!.startsWith(prefix) || m[3]!.split(',').includes('UP') !== up) return undefined;
  // ip prints local time without a zone, and Date parses such a string as local time too.
  const at = new Date(m[1]!).getTime();
  return Number.isFinite(at) ? at : undefined;
}

/** {@link linkEventAt} of a link going down. */
export function downAt(line: string, prefix: string): number | undefined {
  return linkEventAt(line, prefix, false);
}

/**
 * Watches for the first link whose name starts with `prefix` going down (with `up`, coming up),
 * for at most `boundMs`. Resolves once the monitor runs (`ip monitor` reports only events after
 * it subscribed).
 */
export async function watchLink(prefix: string, boundMs: number, up = false): Promise<LinkWatch> {
  const child = spawn('ip', ['-ts', '-o', 'monitor', 'link'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const stop = () => void child.kill('SIGKILL');
  const timer = setTimeout(stop, boundMs);
  timer.unref();
  const down = new Promise<number | undefined>((resolve) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const at = linkEventAt(line, prefix, up);
      if (at === undefined) return;
      resolve(at);
      stop();
    });
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    child.once('error', () => resolve(undefined));
  });
  // Subscribed once the process has started and had a moment to bind its netlink socket.
  await new Promise<void>((resolve) => {
    child.once('spawn', () => setTimeout(resolve, 100));
    child.once('error', () => resolve());
  });
  return { down, stop };
}

/** {@link watchLink} of a link going down. */
export function watchLinkDown(prefix: string, boundMs: number): Promise<LinkWatch> {
  return watchLink(prefix, boundMs);
}
