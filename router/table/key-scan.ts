/**
 * Reads Consul's keys-only listing (`GET /v1/kv/<prefix>?keys`, a JSON array of strings) chunk by
 * chunk, handing each key to a callback, so the listing is never one string nor one parsed array.
 * At 100,000 markets that listing is ~2.6 MB of text and 100,000 strings; the table worker reads it
 * every 3-15 s to find markets outside every shard, and parsing it whole grew the worker's heap
 * between collections. Keys with a JSON escape (a `\`) are not decoded here: `end()` then answers
 * false and the caller reads the listing with `JSON.parse`.
 */

/** Streams one keys-only listing into `onKey`. */
export class KeyListScanner {
  private carry = '';
  private failed = false;

  /**
   * @param onKey called once per key, in listing order. The string may be a view on the chunk it
   * came in: copy it before keeping it.
   */
  constructor(private readonly onKey: (key: string) => void) {}

  /** Reads the next chunk of the listing's text. */
  push(chunk: string): void {
    if (this.failed) return;
    const buf = this.carry + chunk;
    let pos = 0;
    for (;;) {
      const start = buf.indexOf('"', pos);
      if (start < 0) {
        pos = buf.length;
        break;
      }
      const end = buf.indexOf('"', start + 1);
      if (end < 0) {
        pos = start; // the key goes on in the next chunk
        break;
      }
      const key = buf.slice(start + 1, end);
      if (key.includes('\\')) {
        this.failed = true;
        return;
      }
      this.onKey(key);
      pos = end + 1;
    }
    this.carry = buf.slice(pos);
  }

  /** True when every key was read; false when the listing must be read with `JSON.parse`. */
  end(): boolean {
    return !this.failed && !this.carry.includes('"');
  }
}
