/**
 * The control plane's Consul session: one per process, named after the control-plane id,
 * renewed at a third of its TTL. Locks taken with it are released by Consul when the process
 * dies (behaviour `release`), so the records they guard stay for recovery. On start, sessions
 * left by an earlier run of the same id are destroyed: that run is dead, since we are it now.
 */
import type { Logger } from '../../shared/logger.js';
import type { KvStore } from '../../shared/consul/kv-store.js';

/** A live session and its renewal loop. */
export interface ControlPlaneSession {
  readonly id: string;
  /** Stops renewing and destroys the session (locks released). */
  close(): Promise<void>;
}

/** Creates the session `cellsim-cp:<cpId>` after destroying stale ones of the same name. */
export async function openSession(kv: KvStore, cpId: string, log: Logger, ttlSec = 15): Promise<ControlPlaneSession> {
  const name = `cellsim-cp:${cpId}`;
  for (const s of await kv.listSessions()) {
    if (s.name === name) {
      log.warn({ session: s.id }, 'destroying session left by an earlier run of this control plane');
      await kv.destroySession(s.id);
    }
  }
  let id = await kv.createSession(name, `${ttlSec}s`);
  const timer = setInterval(
    () => {
      kv.renewSession(id).then(
        async (alive) => {
          if (!alive) {
            log.error({ session: id }, 'session lost; creating a new one');
            id = await kv.createSession(name, `${ttlSec}s`);
          }
        },
        (err: Error) => log.warn({ err: err.message }, 'session renew failed'),
      );
    },
    (ttlSec * 1000) / 3,
  );
  timer.unref();
  return {
    get id() {
      return id;
    },
    async close() {
      clearInterval(timer);
      await kv.destroySession(id).catch(() => undefined);
    },
  };
}
