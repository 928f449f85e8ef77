/** Free TCP ports for tests, drills and local topologies (never fixed ports in tests). */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Listens on `port` (0: the kernel picks) of 127.0.0.1 and closes again; resolves the port, or undefined when it is taken. */
function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(undefined));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      const addr = srv.address();
      srv.close(() => resolve(addr !== null && typeof addr !== 'string' ? addr.port : undefined));
    });
  });
}

/** The lowest port the kernel hands out as the local port of an outgoing connection (Linux's default 32768). */
export function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
}

/** Picks start here, above the fixed ports of `cellctl up` (up to 18000 for xDS). */
const PICK_FROM = 20000;

/**
 * A free port on 127.0.0.1, drawn below the kernel's ephemeral range. A port the kernel picked
 * (listen on 0) lies inside that range, so between the pick and the process that binds it the
 * kernel may hand it to an outgoing connection as its local port; that socket's TIME_WAIT then
 * keeps a listener off the port for a minute (seen as "taken by no process ... TIME_WAIT" under
 * load). Below the range only another process's pick can take it. Falls back on the kernel's
 * pick when the range leaves no room below it.
 */
export async function freePort(): Promise<number> {
  const high = ephemeralLow() - 1;
  for (let attempt = 0; high - PICK_FROM >= 1000 && attempt < 100; attempt++) {
    const got = await tryListen(PICK_FROM + Math.floor(Math.random() * (high - PICK_FROM + 1)));
    if (got !== undefined) return got;
  }
  const got = await tryListen(0);
  if (got === undefined) throw new Error('no free port on 127.0.0.1');
  return got;
}

/** `n` distinct free ports. */
export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}
