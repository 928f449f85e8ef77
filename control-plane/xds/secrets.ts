/**
 * The SDS secrets the control plane serves every Envoy (docs/tls.md §SDS and rotation): Envoy's
 * client certificate and the CA, read from files and watched. A rewritten file (a rotation)
 * is read again within a poll interval and, once certificate and key match, handed to the
 * publisher, which pushes the new secret over each ADS stream; a half-written pair (key
 * replaced, certificate not yet) keeps the last good secrets until the next poll.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { statSync } from 'node:fs';
import type { Logger } from '../../shared/logger.js';
import { readTlsFiles, type TlsMaterial } from '../../shared/pki/identity.js';
import type { TlsFiles } from '../../shared/pki/names.js';
import type { Resource } from './resources/resource.js';
import { secretResources } from './resources/upstream-tls.js';

/** Files watched for a rotation. */
export class SecretSource {
  private last: TlsMaterial | undefined;
  private stamp = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly files: TlsFiles,
    private readonly log: Logger,
    private readonly onChange: (secrets: ReadonlyMap<string, Resource>) => void,
    private readonly pollMs = 500,
  ) {}

  /** Reads the files (throws when they are unusable at start) and starts watching them. */
  start(): ReadonlyMap<string, Resource> {
    const first = this.read();
    if (!first) throw new Error(`SDS files: ${this.files.cert} and ${this.files.key} are not a certificate and its key`);
    this.timer = setInterval(() => this.poll(), this.pollMs);
    this.timer.unref();
    return first;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private mtimes(): string {
    return [this.files.cert, this.files.key, this.files.ca].map((p) => statSync(p, { throwIfNoEntry: false })?.mtimeMs ?? 0).join(',');
  }

  private read(): ReadonlyMap<string, Resource> | undefined {
    this.stamp = this.mtimes();
    const tls = readTlsFiles(this.files);
    if (!new X509Certificate(tls.cert).checkPrivateKey(createPrivateKey(tls.key))) return undefined;
    this.last = tls;
    return new Map(secretResources(tls).map((r) => [r.name, r]));
  }

  private poll(): void {
    if (this.mtimes() === this.stamp) return;
    const before = this.last;
    try {
      const next = this.read();
      if (!next)
        return void this.log.warn({ cert: this.files.cert }, 'SDS: certificate and key do not match yet; keeping the last secrets');
      if (before && before.cert === this.last?.cert && before.key === this.last.key && before.ca === this.last.ca) return;
      this.log.info({ cert: this.files.cert }, 'SDS: certificate files changed; pushing new secrets');
      this.onChange(next);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'SDS: files unreadable; keeping the last secrets');
    }
  }
}
