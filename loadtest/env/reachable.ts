/** Checks that every traffic target accepts TCP connections before a drill starts. */
import { connect } from 'node:net';
import type { Target } from '../plan.js';

function accepts(url: string, timeoutMs: number): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname, port: Number(u.port || 80) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Throws naming every target that refuses connections: a drill on a topology whose replica is
 * already down would blame the fault for what was broken before it.
 */
export async function assertReachable(targets: Target[], timeoutMs = 2000): Promise<void> {
  const results = await Promise.all(targets.map(async (t) => ({ t, ok: await accepts(t.url, timeoutMs) })));
  const down = results.filter((r) => !r.ok).map((r) => `${r.t.replica} (${r.t.url})`);
  if (down.length)
    throw new Error(`the topology is not healthy before the drill: ${down.join(', ')} refuse connections (see the topology's logs)`);
}
