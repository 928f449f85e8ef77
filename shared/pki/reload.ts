/**
 * A component's TLS files, read at start and then watched (docs/tls.md §Rotation without restarts):
 * the router and the cells serve and dial with {@link TlsSource.current} and take a new
 * certificate, key or CA when the files change, without a restart. The files are polled every
 * 500 ms (their inode, size and mtime); a changed set is taken only when it is a certificate, its
 * own key and a CA file (one CA, or a bundle of several) of which one CA signed it, each parseable, the certificate within its validity. Anything
 * else (a key renamed in before its certificate, a half-copied file, a mismatched pair, a leaf of
 * another CA) is refused with one warning line (`tls_reload_refused`) and the current material
 * kept; the next change is tried again. One poll per set of files and process, however many
 * parts watch it.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { pollFiles, type FilePoll } from '../file-watch.js';
import { createLogger, type Logger } from '../logger.js';
import { pemCertificates, readTlsFiles, type TlsMaterial } from './identity.js';
import type { TlsFiles } from './names.js';

/** Watched TLS material: the current files' texts, and a call on each accepted change. */
export interface TlsSource {
  /** The last accepted material (the files as read at start until a change is accepted). */
  current(): TlsMaterial;
  /** Calls `fn` with each accepted material; returns the unsubscribe. */
  onChange(fn: (tls: TlsMaterial) => void): () => void;
  /** Releases this handle (the poll stops with the last handle of its files). */
  close(): void;
}

/** The default poll interval, ms. */
export const TLS_POLL_MS = 500;

/**
 * Why `tls` cannot serve (undefined when it can): parse, key match, CA signature, validity, Node's
 * own context. The CA file may be a bundle (the middle of a CA rotation, docs/tls.md §Rotating the CA):
 * the certificate must be signed by one of its CAs, and every CA of it is trusted.
 */
export function tlsMaterialProblem(tls: TlsMaterial, now = new Date()): string | undefined {
  let cert: X509Certificate;
  let cas: X509Certificate[];
  try {
    cert = new X509Certificate(tls.cert);
  } catch {
    return 'the certificate file holds no PEM certificate';
  }
  try {
    cas = pemCertificates(tls.ca).map((pem) => new X509Certificate(pem));
  } catch {
    return 'the CA file holds a certificate that does not parse';
  }
  if (!cas.length) return 'the CA file holds no PEM certificate';
  let key;
  try {
    key = createPrivateKey(tls.key);
  } catch {
    return 'the key file holds no PEM private key';
  }
  if (!cert.checkPrivateKey(key)) return 'the key does not belong to the certificate';
  if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey)))
    return cas.length === 1
      ? 'the certificate is not signed by the CA'
      : `the certificate is signed by none of the ${cas.length} CAs of the CA file`;
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo))
    return `the certificate is not valid now (${cert.validFrom} – ${cert.validTo})`;
  try {
    createSecureContext({ cert: tls.cert, key: tls.key, ca: tls.ca });
  } catch (err) {
    return `Node refuses the files: ${(err as Error).message}`;
  }
  return undefined;
}

/** One poll of one set of files, shared by every handle on them. */
class Watch {
  handles = 0;
  private tls: TlsMaterial;
  private readonly listeners = new Set<(tls: TlsMaterial) => void>();
  private readonly poll: FilePoll;

  constructor(
    private readonly files: TlsFiles,
    private readonly log: Logger,
    pollMs: number,
  ) {
    this.poll = pollFiles([files.cert, files.key, files.ca], pollMs, () => this.changed());
    try {
      this.tls = readTlsFiles(files);
    } catch (err) {
      this.poll.stop();
      throw err;
    }
  }

  current(): TlsMaterial {
    return this.tls;
  }

  subscribe(fn: (tls: TlsMaterial) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  stop(): void {
    this.poll.stop();
    this.listeners.clear();
  }

  private changed(): void {
    let next: TlsMaterial;
    try {
      next = readTlsFiles(this.files);
    } catch (err) {
      return void this.refuse((err as Error).message);
    }
    if (next.cert === this.tls.cert && next.key === this.tls.key && next.ca === this.tls.ca) return;
    const problem = tlsMaterialProblem(next);
    if (problem) return void this.refuse(problem);
    const serial = new X509Certificate(next.cert).serialNumber;
    this.tls = next;
    this.log.info({ event: 'tls_reloaded', cert: this.files.cert, serial }, 'TLS files changed: new connections use the new certificate');
    for (const fn of this.listeners) {
      try {
        fn(next);
      } catch (err) {
        this.log.error({ event: 'tls_reload_failed', cert: this.files.cert, err: (err as Error).message }, 'TLS reload failed in a user');
      }
    }
  }

  private refuse(reason: string): void {
    this.log.warn(
      { event: 'tls_reload_refused', cert: this.files.cert, key: this.files.key, ca: this.files.ca, reason },
      'TLS files changed but cannot serve: keeping the current certificate',
    );
  }
}

const watches = new Map<string, Watch>();

/**
 * A handle on the TLS files `files`: reads them now (throws TlsConfigError when one cannot be
 * read, as at start) and polls them every `pollMs` (one poll per files and process; the first
 * handle's `logger` logs).
 */
export function watchTls(files: TlsFiles, opts: { logger?: Logger; pollMs?: number } = {}): TlsSource {
  const id = `${files.cert}\0${files.key}\0${files.ca}`;
  let watch = watches.get(id);
  if (!watch) {
    watch = new Watch(files, opts.logger ?? createLogger('tls'), opts.pollMs ?? TLS_POLL_MS);
    watches.set(id, watch);
  }
  const w = watch;
  w.handles += 1;
  const mine = new Set<() => void>();
  let closed = false;
  return {
    current: () => w.current(),
    onChange(fn) {
      const off = w.subscribe(fn);
      mine.add(off);
      return () => {
        off();
        mine.delete(off);
      };
    },
    close() {
      if (closed) return;
      closed = true;
      for (const off of mine) off();
      w.handles -= 1;
      if (w.handles === 0) {
        w.stop();
        watches.delete(id);
      }
    },
  };
}

/** True when `v` is a {@link TlsSource} rather than fixed material. */
export function isTlsSource(v: TlsMaterial | TlsSource): v is TlsSource {
  return typeof (v as TlsSource).current === 'function';
}
