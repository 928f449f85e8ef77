/**
 * Where the Envoys' admin listeners are: Envoy registers nowhere, so the console reads them from
 * `cellctl up`'s `<data>/topology.json` (`envoys[].admin`), as the operators find the supervisor
 * there. Without a data directory the console shows no Envoy traffic.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The Envoys' admin base URLs (`http://host:port`), or none. */
export async function envoyAdmins(dataDir: string | undefined): Promise<string[]> {
  if (!dataDir) return [];
  try {
    const topo = JSON.parse(await readFile(join(dataDir, 'topology.json'), 'utf8')) as { envoys?: { admin?: unknown }[] };
    return (topo.envoys ?? []).map((e) => e.admin).filter((a): a is string => typeof a === 'string' && /^https?:\/\/[^/]+$/.test(a));
  } catch {
    return [];
  }
}
