/** The operator console's live stream (`/ui/events`) read by the topology tests. */
import assert from 'node:assert/strict';

/** What the console's live stream carries. */
export interface ConsoleEvent {
  regions: Record<string, string>;
  rates: { plane: string; targets: number; answered: number; last?: { rps: number } }[];
}

/** The events of the console's `/ui/events` stream until `done` holds for one (or `ms` pass): the last one read. */
export async function consoleEvent(
  get: (url: string, init?: RequestInit) => Promise<Response>,
  base: string,
  cookie: string,
  ms: number,
  done: (e: ConsoleEvent) => boolean,
): Promise<ConsoleEvent | undefined> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  let last: ConsoleEvent | undefined;
  try {
    const res = await get(`${base}/ui/events`, { headers: { cookie }, signal: ac.signal });
    assert.equal(res.status, 200);
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const data = buf
          .slice(0, i)
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trim())
          .join('\n');
        buf = buf.slice(i + 2);
        if (!data) continue;
        last = JSON.parse(data) as ConsoleEvent;
        if (done(last)) return last;
      }
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return last;
}
