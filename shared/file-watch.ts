/**
 * Noticing that files were rewritten, by polling (docs/tls.md §Rotation without restarts): the
 * one primitive behind every watched certificate, key and CA file. A file's stamp is its inode,
 * size and mtime, so an atomic rename over it (a new inode) and an in-place write both count.
 */
import { statSync } from 'node:fs';

/** The stamps of `paths` (`-` for a missing one), joined: equal as long as no file changed. */
export function fileStamp(paths: readonly string[]): string {
  return paths
    .map((p) => {
      const s = statSync(p, { throwIfNoEntry: false });
      return s ? `${s.ino}:${s.size}:${s.mtimeMs}` : '-';
    })
    .join(',');
}

/** A running poll of files. */
export interface FilePoll {
  /** Stops the poll. */
  stop(): void;
}

/**
 * Polls `paths` every `pollMs` (an unref'd timer) and calls `onChange` once for each poll that
 * finds their {@link fileStamp} changed since the last call (or since the start).
 */
export function pollFiles(paths: readonly string[], pollMs: number, onChange: () => void): FilePoll {
  let stamp = fileStamp(paths);
  const timer = setInterval(() => {
    const now = fileStamp(paths);
    if (now === stamp) return;
    stamp = now;
    onChange();
  }, pollMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
