/**
 * The ACL token a Consul client sends when its caller names none, from the environment, the way
 * Consul's own clients read CONSUL_HTTP_TOKEN_FILE and CONSUL_HTTP_TOKEN: the path in
 * `CELLSIM_CONSUL_TOKEN_FILE` first, else the value of `CELLSIM_CONSUL_TOKEN`. A process gets its
 * token this way, never on its command line (docs/security.md); `cellctl up` hands each child the
 * path of its own token file (docs/contracts.md §Data directory).
 */
import { readFileSync } from 'node:fs';
import { ConsulError } from './errors.js';

/** The variable that names a file holding the Consul ACL token. */
export const CONSUL_TOKEN_FILE_ENV = 'CELLSIM_CONSUL_TOKEN_FILE';
/** The variable that holds the Consul ACL token itself (when no file is named). */
export const CONSUL_TOKEN_ENV = 'CELLSIM_CONSUL_TOKEN';

/**
 * The token of the environment; undefined when neither variable is set (or set empty). A named
 * file that cannot be read, or that is empty, is `consul_token`: a process must not silently
 * fall back to the anonymous token.
 */
export function consulTokenFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env[CONSUL_TOKEN_FILE_ENV];
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new ConsulError('consul_token', `${CONSUL_TOKEN_FILE_ENV}: cannot read ${file}: ${why}`);
    }
    if (!text) throw new ConsulError('consul_token', `${CONSUL_TOKEN_FILE_ENV}: ${file} is empty`);
    return text;
  }
  return env[CONSUL_TOKEN_ENV]?.trim() || undefined;
}
