/**
 * The bearer tokens of cellsim's admin surfaces (docs/security.md): each process finds its
 * tokens in a file (a `--…-token-file <path>` flag) or in a `CELLSIM_…_TOKEN` variable, never on
 * its command line, where `ps` shows it. `cellctl up` writes one file per token under
 * `<data>/tokens/` (mode 0600) and hands its children the paths. The environment is read here only.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { CellsimError } from './errors.js';
import { formatIssues } from './kv.js';

/** What a token may do on the control plane's admin API: `read` the state, or `operator`: read and change it. */
export type Scope = 'read' | 'operator';

/** A token with the name the audit records for it and its scope. */
export interface NamedToken {
  name: string;
  scope: Scope;
  token: string;
}

/** The tokens of a topology, each in its own file `<data>/tokens/<kind>`. */
export const TOKEN_KINDS = ['operator', 'read', 'cell-admin', 'supervisor', 'router-admin'] as const;
/**
 * One kind of token: the operator's and the read-only one (control-plane admin API), the cells'
 * admin API's, the supervisor's, and the routers' route view's (`GET /route`, which the control
 * plane's freeze barrier asks).
 */
export type TokenKind = (typeof TOKEN_KINDS)[number];

/** The variable that holds each kind's value when no file names it. */
export const TOKEN_ENV: Record<TokenKind, string> = {
  operator: 'CELLSIM_OPERATOR_TOKEN',
  read: 'CELLSIM_READ_TOKEN',
  'cell-admin': 'CELLSIM_CELL_ADMIN_TOKEN',
  supervisor: 'CELLSIM_SUPERVISOR_TOKEN',
  'router-admin': 'CELLSIM_ROUTER_ADMIN_TOKEN',
};

/** The variable an operator command (`cellctl status`, `migrate`, …) reads its token from. */
export const OPERATOR_COMMAND_TOKEN_ENV = 'CELLSIM_TOKEN';

/** RFC 6750's b64token (what hono's bearer-auth accepts), at least 16 characters. */
const TOKEN_RE = /^[A-Za-z0-9._~+/-]{16,}=*$/;

/** A token name: what the audit's `who` records. */
const TOKEN_NAME_RE = /^[a-z0-9][a-z0-9._@-]{0,62}$/;

/** A token file or variable that holds no usable token (code `invalid_token_config`; the process refuses to start). */
export class TokenConfigError extends CellsimError {
  constructor(message: string) {
    super('invalid_token_config', message);
    this.name = 'TokenConfigError';
  }
}

/** `value` when it is a usable token; throws naming `source` (never the value) otherwise. */
export function checkToken(value: string, source: string): string {
  if (!TOKEN_RE.test(value)) {
    throw new TokenConfigError(`${source}: not a token (at least 16 of A-Z a-z 0-9 . _ ~ + / -, then any '=')`);
  }
  return value;
}

/** The token in a file (one line; surrounding white space ignored). */
export function readTokenFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TokenConfigError(`cannot read token file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return checkToken(text.trim(), `token file ${path}`);
}

/** A token of `kind`: from `file` when given, else from its variable; undefined when neither is set. */
export function resolveToken(kind: TokenKind, file: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (file) return readTokenFile(file);
  const v = env[TOKEN_ENV[kind]];
  return v ? checkToken(v.trim(), TOKEN_ENV[kind]) : undefined;
}

/** `<data>/tokens/<kind>`. */
export function tokenPath(dataDir: string, kind: TokenKind): string {
  return join(dataDir, 'tokens', kind);
}

/**
 * Makes every missing token file of a topology (`<data>/tokens/`, mode 0700; each file 0600,
 * 24 random bytes in hex) and tightens the mode of those that exist. Answers each kind's path
 * and the kinds just made.
 */
export function ensureTokenFiles(dataDir: string): { paths: Record<TokenKind, string>; created: TokenKind[] } {
  const dir = join(dataDir, 'tokens');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const created: TokenKind[] = [];
  const paths = {} as Record<TokenKind, string>;
  for (const kind of TOKEN_KINDS) {
    const path = tokenPath(dataDir, kind);
    if (existsSync(path)) chmodSync(path, 0o600);
    else {
      writeFileSync(path, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
      created.push(kind);
    }
    readTokenFile(path);
    paths[kind] = path;
  }
  return { paths, created };
}

/** A tokens file: named tokens of the control plane's admin API, each with its scope. */
const TokensFileSchema = z
  .object({
    tokens: z
      .array(
        z
          .object({
            name: z.string().regex(TOKEN_NAME_RE, 'a token name is lower case letters, digits and . _ @ -'),
            scope: z.enum(['read', 'operator']),
            token: z.string().regex(TOKEN_RE, 'not a token (at least 16 of A-Z a-z 0-9 . _ ~ + / -)'),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

/** The named tokens of a tokens file: `{"tokens":[{"name":"alice","scope":"operator","token":"…"}]}`. */
export function readTokensFile(path: string): NamedToken[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new TokenConfigError(`tokens file ${path}: ${(err as Error).message}`);
  }
  const parsed = TokensFileSchema.safeParse(raw);
  // the issues name paths and rules, never a token's value
  if (!parsed.success) throw new TokenConfigError(`tokens file ${path}: ${formatIssues(parsed.error).join('; ')}`);
  return parsed.data.tokens;
}

/**
 * The tokens a control plane accepts on its admin API: `operator` and `read` (each from its
 * file or variable) and those of a tokens file. Throws when two share a name or a value, or
 * when one is the cells' or the supervisor's token: those surfaces never take an operator's.
 */
export function adminApiTokens(o: {
  operatorTokenFile?: string;
  readTokenFile?: string;
  tokensFile?: string;
  others?: { kind: string; token: string | undefined }[];
  env?: NodeJS.ProcessEnv;
}): NamedToken[] {
  const out: NamedToken[] = [];
  const operator = resolveToken('operator', o.operatorTokenFile, o.env);
  if (operator) out.push({ name: 'operator', scope: 'operator', token: operator });
  const read = resolveToken('read', o.readTokenFile, o.env);
  if (read) out.push({ name: 'read', scope: 'read', token: read });
  if (o.tokensFile) out.push(...readTokensFile(o.tokensFile));
  const names = new Set<string>();
  const values = new Set<string>();
  for (const t of out) {
    if (names.has(t.name)) throw new TokenConfigError(`two admin tokens are named '${t.name}'`);
    if (values.has(t.token)) throw new TokenConfigError(`admin token '${t.name}' has the value of another one`);
    names.add(t.name);
    values.add(t.token);
  }
  for (const other of o.others ?? []) {
    const same = out.find((t) => t.token === other.token);
    if (same) throw new TokenConfigError(`the ${other.kind} token is also admin token '${same.name}': give each surface its own`);
  }
  return out;
}
