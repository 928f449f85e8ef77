/**
 * vegeta's JSON target format (`vegeta attack -format=json`): one object per line with method,
 * url, header (name → values) and body (base64). The URL's fragment is never sent on the wire
 * but vegeta keeps it in each result's `url`, so a caller can tag a request (market, plane, op)
 * without touching what the server sees.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

/** One request for vegeta. */
export interface VegetaTarget {
  method: string;
  url: string;
  header?: Record<string, string | string[]>;
  /** The raw body; encoded to base64 for vegeta. */
  body?: string | Buffer;
}

/** The target as one line of vegeta's JSON target format (newline included). */
export function encodeTarget(t: VegetaTarget): string {
  const header: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(t.header ?? {})) header[k] = Array.isArray(v) ? v : [v];
  const line: Record<string, unknown> = { method: t.method, url: t.url };
  if (Object.keys(header).length) line.header = header;
  if (t.body !== undefined) line.body = Buffer.from(t.body).toString('base64');
  return `${JSON.stringify(line)}\n`;
}

/** `url` with a fragment of tags (`#k=v&...`): vegeta reports it back, the server never sees it. */
export function taggedUrl(url: string, tags: Record<string, string>): string {
  return `${url.split('#')[0]}#${new URLSearchParams(tags).toString()}`;
}

/** The tags of a URL made by {@link taggedUrl}. */
export function urlTags(url: string): Record<string, string> {
  const i = url.indexOf('#');
  return i < 0 ? {} : Object.fromEntries(new URLSearchParams(url.slice(i + 1)));
}

/** Writes targets to a file in vegeta's JSON format (for `targetsFile`), streamed: any number in constant memory. */
export async function writeTargets(file: string, targets: Iterable<VegetaTarget>): Promise<void> {
  const out = createWriteStream(file);
  try {
    for (const t of targets) if (!out.write(encodeTarget(t))) await once(out, 'drain');
  } finally {
    out.end();
  }
  await once(out, 'finish');
}
