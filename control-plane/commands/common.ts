/**
 * What every operator command shares: finding the control plane (`--control-plane`, else the
 * topology of `--data`) and the operator token (`--token-file`, else CELLSIM_TOKEN, else
 * `<data>/tokens/operator`; never a secret on the command line), calling the admin API, printing
 * errors in one clear line, and showing progress (a bar on a terminal, plain lines otherwise).
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import { Command } from 'commander';
import { parseUrl } from '../../shared/cli.js';
import { CellsimError } from '../../shared/errors.js';
import { caClient, type PeerClient } from '../../shared/pki/client.js';
import { tlsDir, tlsFiles } from '../../shared/pki/names.js';
import { OPERATOR_COMMAND_TOKEN_ENV, checkToken, readTokenFile, tokenPath } from '../../shared/tokens.js';

/** Connection flags every operator command takes. */
export interface ConnFlags {
  data: string;
  controlPlane?: string;
  tokenFile?: string;
  json?: boolean;
}

/** A failure to report as `cellctl <cmd>: <message>` with an exit code (code `command_failed`). */
export class CommandError extends CellsimError {
  constructor(
    message: string,
    readonly exitCode = 1,
    /** The admin API's error code, when the failure is its answer (what a command branches on). */
    readonly apiCode?: string,
  ) {
    super('command_failed', message);
    this.name = 'CommandError';
  }
}

/** Adds --data, --control-plane, --token-file (and --json when asked) to a command. */
export function withConnection(cmd: Command, json = true): Command {
  cmd
    .option('--data <dir>', 'data directory of the topology (its topology.json and tokens/)', '.cellsim')
    .option('--control-plane <url>', 'control plane URL (default: from <data>/topology.json)', parseUrl)
    .option(
      '--token-file <path>',
      `file holding the admin API token (default: ${OPERATOR_COMMAND_TOKEN_ENV}, else <data>/tokens/operator)`,
    );
  if (json) cmd.option('--json', 'print JSON for scripts');
  return cmd;
}

/** The admin API client of one command run. */
export interface Api {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  url: string;
}

/** Resolves the control plane and token, and builds the client. */
export function connect(f: ConnFlags): Api {
  const dir = resolve(f.data);
  let url = f.controlPlane;
  if (!url) {
    const file = join(dir, 'topology.json');
    if (!existsSync(file))
      throw new CommandError(`no running topology in ${dir} (start one with 'cellctl up --data ${f.data}', or pass --control-plane)`);
    url = (JSON.parse(readFileSync(file, 'utf8')) as { controlPlane?: { url?: string } }).controlPlane?.url;
    if (!url) throw new CommandError(`${file} names no control plane`);
  }
  const token = operatorToken(f, dir);
  const who = `${safeUser()}@${hostname()}`;
  const get = url.startsWith('https:') ? topologyCaClient(dir).fetch : fetch;
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    let res: Response;
    try {
      res = await get(`${url}/admin${path}`, {
        method,
        headers: {
          'content-type': 'application/json',
          // informative only: the audit's `who` is the token's name; this is what the caller claims
          'x-cellsim-operator': who,
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(120_000),
      });
    } catch (err) {
      throw new CommandError(`cannot reach the control plane at ${url}: ${(err as Error).message}`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new CommandError(`control plane answered ${res.status} with a non-JSON body`);
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string } }).error;
      throw new CommandError(
        `${e?.message ?? `HTTP ${res.status}`} (${e?.code ?? res.status})`,
        res.status === 401 || res.status === 403 ? 3 : 1,
        e?.code,
      );
    }
    return json as T;
  };
  return { url, get: (p) => call('GET', p), post: (p, b) => call('POST', p, b ?? {}) };
}

/**
 * The client of a topology's HTTPS endpoints (`cellctl up --tls`: the control plane's `--api-tls`,
 * the routers' edge): trusting only the topology's CA, `<dir>/tls/ca.crt` (docs/security.md §TLS);
 * `http:` URLs pass through. With `as`, it also presents that component's certificate of
 * `<dir>/tls/`, for a mutual-TLS endpoint. One per command run.
 */
export function topologyCaClient(dir: string, as?: string): PeerClient {
  const files = tlsFiles(tlsDir(resolve(dir)), as ?? '');
  if (!existsSync(files.ca)) throw new CommandError(`the topology serves HTTPS but ${files.ca} (the topology's CA) is missing`);
  if (as === undefined) return caClient(readFileSync(files.ca, 'utf8'));
  for (const f of [files.cert, files.key])
    if (!existsSync(f)) throw new CommandError(`the topology asks for a client certificate but ${f} is missing`);
  return caClient(readFileSync(files.ca, 'utf8'), { cert: readFileSync(files.cert, 'utf8'), key: readFileSync(files.key, 'utf8') });
}

/** The operator token: `--token-file`, else CELLSIM_TOKEN, else `<dir>/tokens/operator` when it exists. */
function operatorToken(f: ConnFlags, dir: string): string | undefined {
  try {
    if (f.tokenFile) return readTokenFile(f.tokenFile);
    const env = process.env[OPERATOR_COMMAND_TOKEN_ENV];
    if (env) return checkToken(env.trim(), OPERATOR_COMMAND_TOKEN_ENV);
    const file = tokenPath(dir, 'operator');
    return existsSync(file) ? readTokenFile(file) : undefined;
  } catch (err) {
    throw new CommandError((err as Error).message);
  }
}

/**
 * The `cellctl up` supervisor of the topology in `--data` (its control channel URL from
 * topology.json, and the supervisor token, `<data>/tokens/supervisor`), or undefined when there is none.
 */
export function supervisorOf(f: ConnFlags): { url: string; token: string } | undefined {
  const dir = resolve(f.data);
  const file = join(dir, 'topology.json');
  const tokenFile = tokenPath(dir, 'supervisor');
  const token = existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : undefined;
  if (!existsSync(file) || !token) return undefined;
  try {
    const url = (JSON.parse(readFileSync(file, 'utf8')) as { supervisor?: { url?: string } }).supervisor?.url;
    return url ? { url, token } : undefined;
  } catch {
    return undefined;
  }
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'operator';
  }
}

/** Wraps an action: CommandError → one line on stderr and its exit code. */
export function run<A extends unknown[]>(name: string, action: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await action(...args);
    } catch (err) {
      process.stderr.write(`cellctl ${name}: ${(err as Error).message}\n`);
      process.exitCode = err instanceof CommandError ? err.exitCode : 1;
    }
  };
}

/** Prints JSON. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Live progress: a bar on a terminal, one line per change otherwise; silent with --json. */
export class Progress {
  private bar: SingleBar | undefined;
  private last = '';

  constructor(
    private readonly total: number,
    private readonly quiet: boolean,
  ) {
    if (!quiet && process.stdout.isTTY) {
      this.bar = new SingleBar({ format: ' {bar} {value}/{total} {step}', hideCursor: true, clearOnComplete: false });
      this.bar.start(total, 0, { step: '' });
    }
  }

  /** Shows `step` at position `value`. */
  update(value: number, step: string): void {
    if (this.quiet || step === this.last) return;
    this.last = step;
    if (this.bar) this.bar.update(Math.min(value, this.total), { step });
    else process.stdout.write(`  ${step}\n`);
  }

  stop(): void {
    this.bar?.stop();
  }
}

/** Sleeps `ms`. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
