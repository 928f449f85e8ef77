/**
 * Atomic file replacement for on-disk last-good state: the text is written to a temporary file
 * beside the target, fsynced, then renamed over the target (and the directory fsynced), so a
 * reader — or a process restarted after a crash — sees the old file or the new one, never a
 * torn one. The text comes as chunks, so a large table never has to be one string.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { z } from 'zod';
import { formatIssues } from './kv.js';

/**
 * Replaces `path` with the concatenated `chunks` atomically (temp file + fsync + rename +
 * directory fsync); creates the directory. Returns the byte size written. On any failure the
 * temporary file is removed and the old file stays.
 */
export async function writeFileAtomic(
  path: string,
  chunks: Iterable<string> | AsyncIterable<string>,
  opts: { mode?: number } = {},
): Promise<number> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  let bytes = 0;
  try {
    const fh = await open(tmp, 'w', opts.mode ?? 0o644);
    try {
      for await (const chunk of chunks) {
        if (chunk.length === 0) continue;
        bytes += Buffer.byteLength(chunk);
        await fh.writeFile(chunk, 'utf8');
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  // The rename itself is durable only once the directory entry is on disk.
  const dh = await open(dir, 'r').catch(() => undefined);
  if (dh) {
    await dh.sync().catch(() => undefined);
    await dh.close();
  }
  return bytes;
}

/**
 * Reads a JSON state file written by {@link writeFileAtomic} and validates it with `schema`;
 * undefined when the file does not exist. Throws, naming `what` and the path, when it is not
 * JSON or not valid (the caller logs it and ignores the file).
 */
export async function readJsonFile<S extends z.ZodTypeAny>(path: string, schema: S, what: string): Promise<z.infer<S> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${what} ${path} is not JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new Error(`${what} ${path} is invalid: ${formatIssues(parsed.error).slice(0, 5).join('; ')}`);
  return parsed.data as z.infer<S>;
}
