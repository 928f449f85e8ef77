/** Waits, once Consul has a leader (and its ACLs), until its KV store takes a write: seeding starts then. */
import type { ConsulClient } from '../shared/consul/client.js';

/** Resolves once a write to Consul's KV succeeds (polled every 100 ms, 15 s at most); throws otherwise. */
export async function waitKvWritable(consul: ConsulClient): Promise<void> {
  for (let i = 0; i < 150; i++) {
    const ok = await consul.kv.put('_cellsim_ready', '1').then(
      () => true,
      () => false,
    );
    if (ok) {
      await consul.kv.delete('_cellsim_ready');
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('consul KV does not accept writes');
}
