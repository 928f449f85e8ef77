/**
 * A drill's own look at a component during its fault window: an HTTP GET of the component's
 * port every 250 ms, recording whether anything answered. A killed replica or a stopped Consul
 * must show as unanswered probes (the positive control of the component drills). Under
 * `cellctl up --tls` the probe is HTTPS through the topology's client, which trusts its CA
 * (`DrillEnv.fetch`): with Node's fetch every HTTPS probe of an up component would fail its
 * certificate check and count as unanswered, so the control would pass with nothing down.
 */

/**
 * A probe with no answer by then counts as unanswered. A killed component refuses at once; the
 * bound only has to outlast an up component's answer on a busy machine.
 */
export const PROBE_TIMEOUT_MS = 1000;

/** One probe of a component's HTTP port. */
export interface Probe {
  /** When the probe was sent (epoch ms). */
  at: number;
  /** An HTTP answer came (any status): the component was up. */
  answered: boolean;
  /** The status when answered; else why not (`ECONNREFUSED`, `timeout`, ...). */
  detail: string;
}

/** A fetch the probe sends its GET with (an HTTPS one trusting a topology's CA). */
export type ProbeFetch = (url: string, init?: RequestInit) => Promise<Response>;

/** How often and how patiently to probe, and with which fetch. */
export interface ProbeOptions {
  intervalMs?: number;
  /** A probe with no answer by then counts as unanswered. */
  timeoutMs?: number;
  /** Node's global fetch when absent. */
  fetch?: ProbeFetch;
}

/** A running probe loop. */
export interface ProbeWatch {
  /** Stops probing; resolves with every probe made once the one in flight is done. */
  stop(): Promise<Probe[]>;
}

/** Why a fetch got no answer: the socket error's code when there is one. */
function reason(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'timeout';
  return e.cause?.code ?? e.name ?? 'error';
}

/** Sends one probe: a GET of `url` (with `get`), any HTTP status counts as answered. */
export async function probeOnce(url: string, timeoutMs = PROBE_TIMEOUT_MS, get: ProbeFetch = fetch): Promise<Probe> {
  const at = Date.now();
  try {
    const res = await get(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer().catch(() => undefined);
    return { at, answered: true, detail: `HTTP ${res.status}` };
  } catch (err) {
    return { at, answered: false, detail: reason(err) };
  }
}

/** Runs `once` every `intervalMs` until stopped, collecting its probes; one probe starts at once. */
export function watchProbes(once: () => Promise<Probe>, intervalMs = 250): ProbeWatch {
  const probes: Probe[] = [];
  let stopped = false;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (!stopped) {
      const next = Date.now() + intervalMs;
      probes.push(await once());
      if (stopped) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, Math.max(0, next - Date.now())).unref();
      });
    }
  })();
  return {
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      return probes;
    },
  };
}

/** Probes `url` every `intervalMs` (default 250) until stopped; one probe starts at once. */
export function watchReachable(url: string, o: ProbeOptions = {}): ProbeWatch {
  return watchProbes(() => probeOnce(url, o.timeoutMs ?? PROBE_TIMEOUT_MS, o.fetch), o.intervalMs ?? 250);
}
