/**
 * The CA a Consul client trusts for Consul's HTTPS API when its caller names none, from the
 * environment, the way Consul's own clients read CONSUL_CACERT: the PEM file named by
 * `CELLSIM_CONSUL_CACERT`. `cellctl up --tls` hands every child the path of `<data>/tls/ca.crt`
 * (docs/security.md §TLS). Only an `https:` Consul URL uses it.
 *
 * The file is followed ({@link followConsulCa}): polled every 500 ms (its inode, size and mtime),
 * a changed file is taken when every certificate in it parses and Node accepts it as a CA (a
 * bundle of several, as during a CA rotation, is one CA option); the transports then build a new
 * agent for new connections. A file that is unreadable or holds no good certificate is refused
 * with one warning line (`consul_ca_refused`) and the last good CA kept (docs/tls.md §Rotation without restarts).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { pollFiles } from '../file-watch.js';
import type { Logger } from '../logger.js';
import { pemCertificates } from '../pki/identity.js';
import { ConsulError } from './errors.js';

/** The variable that names the PEM file of the CA Consul's HTTPS certificate chains to. */
export const CONSUL_CA_FILE_ENV = 'CELLSIM_CONSUL_CACERT';

/** A CA that may change while the process runs: the transports read it for each request. */
export interface ConsulCa {
  /** The PEM text of the last good CA (one certificate or a bundle). */
  current(): string;
}

/** A CA as a transport takes it: fixed PEM text, or one that is followed. */
export type ConsulCaOption = string | ConsulCa;

/** The PEM text of `ca` now; undefined without one. */
export function caText(ca: ConsulCaOption | undefined): string | undefined {
  return ca === undefined || typeof ca === 'string' ? ca : ca.current();
}

/** The default poll interval of a followed CA file, ms. */
export const CONSUL_CA_POLL_MS = 500;

/** Why `text` cannot serve as a CA (undefined when it can): no certificate, one that does not parse, or Node refuses it. */
export function consulCaProblem(text: string): string | undefined {
  const blocks = pemCertificates(text);
  if (blocks.length === 0) return 'holds no PEM certificate';
  // A bundle cut off in its second certificate would otherwise pass as its first alone.
  if ((text.match(/-----BEGIN /g) ?? []).length !== blocks.length) return 'holds a certificate cut off before its END line';
  for (const [i, b] of blocks.entries()) {
    try {
      new X509Certificate(b);
    } catch {
      return `certificate ${i + 1} of ${blocks.length} does not parse`;
    }
  }
  try {
    createSecureContext({ ca: blocks.join('') });
  } catch (err) {
    return `Node refuses it: ${(err as Error).message}`;
  }
  return undefined;
}

/** Reads `file` as a CA; `consul_tls` when it cannot be read or cannot serve. */
function readCa(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConsulError('consul_tls', `${CONSUL_CA_FILE_ENV}: cannot read ${file}: ${why}`);
  }
  const problem = consulCaProblem(text);
  if (problem) throw new ConsulError('consul_tls', `${CONSUL_CA_FILE_ENV}: ${file} ${problem}`);
  // One block a line: OpenSSL reads nothing of two certificates glued on one line ("…END…-----BEGIN…").
  return pemCertificates(text).join('');
}

/**
 * The CA of the environment, read once; undefined when the variable is unset (or empty), and the
 * system's trust store is used. A named file that cannot be read, or that holds no certificate, is
 * `consul_tls`: a process must not silently trust another store than the one it was given.
 */
export function consulCaFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env[CONSUL_CA_FILE_ENV];
  return file ? readCa(file) : undefined;
}

/** As {@link consulCaFromEnv}, but the file followed ({@link followConsulCa}). */
export function followedCaFromEnv(env: NodeJS.ProcessEnv = process.env): ConsulCa | undefined {
  const file = env[CONSUL_CA_FILE_ENV];
  return file ? followConsulCa(file) : undefined;
}

/** One poll of one CA file, shared by every client of the process that follows it. */
class FollowedCa implements ConsulCa {
  private text: string;

  constructor(
    private readonly file: string,
    private logger: Logger | undefined,
    pollMs: number,
  ) {
    // Stamped before the read, so a change between the two is not missed.
    const poll = pollFiles([file], pollMs, () => this.reread());
    try {
      this.text = readCa(file);
    } catch (err) {
      poll.stop();
      throw err;
    }
  }

  current(): string {
    return this.text;
  }

  private reread(): void {
    let next: string;
    try {
      next = readCa(this.file);
    } catch (err) {
      const reason = (err as Error).message;
      this.log(
        'warn',
        { event: 'consul_ca_refused', file: this.file, reason },
        "Consul's CA file changed but cannot serve: keeping the current CA",
      );
      return;
    }
    if (next === this.text) return;
    this.text = next;
    const certificates = pemCertificates(next).length;
    this.log(
      'info',
      { event: 'consul_ca_reloaded', file: this.file, certificates },
      "Consul's CA file changed: new connections to Consul trust it",
    );
  }

  /**
   * One line; without a logger of the caller's, the process logger is loaded at the first line, so
   * that a client that never sees its CA change (the router's table worker, an isolate of its own)
   * does not load pino for it.
   */
  private log(level: 'info' | 'warn', fields: Record<string, unknown>, msg: string): void {
    if (this.logger) return void this.logger[level](fields, msg);
    void import('../logger.js').then(({ createLogger }) => {
      this.logger ??= createLogger('consul-ca');
      this.logger[level](fields, msg);
    });
  }
}

const followed = new Map<string, FollowedCa>();

/**
 * The CA in `file`, read now (`consul_tls` when it cannot serve, as at start) and then followed
 * for the life of the process: one poll per file and process (the first caller's `pollMs` and
 * `logger` count).
 */
export function followConsulCa(file: string, o: { pollMs?: number; logger?: Logger } = {}): ConsulCa {
  let ca = followed.get(file);
  if (!ca) {
    ca = new FollowedCa(file, o.logger, o.pollMs ?? CONSUL_CA_POLL_MS);
    followed.set(file, ca);
  }
  return ca;
}
