/**
 * The CA a Consul client trusts for Consul's HTTPS API when its caller names none, from the
 * environment, the way Consul's own clients read CONSUL_CACERT: the PEM file named by
 * `CELLSIM_CONSUL_CACERT`. `cellctl up --tls` hands every child the path of `<data>/tls/ca.crt`
 * (docs/security.md §TLS). Only an `https:` Consul URL uses it.
 */
import { readFileSync } from 'node:fs';
import { ConsulError } from './errors.js';

/** The variable that names the PEM file of the CA Consul's HTTPS certificate chains to. */
export const CONSUL_CA_FILE_ENV = 'CELLSIM_CONSUL_CACERT';

/**
 * The CA of the environment; undefined when the variable is unset (or empty), and the system's
 * trust store is used. A named file that cannot be read, or that holds no certificate, is
 * `consul_tls`: a process must not silently trust another store than the one it was given.
 */
export function consulCaFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env[CONSUL_CA_FILE_ENV];
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConsulError('consul_tls', `${CONSUL_CA_FILE_ENV}: cannot read ${file}: ${why}`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    throw new ConsulError('consul_tls', `${CONSUL_CA_FILE_ENV}: ${file} holds no PEM certificate`);
  return text;
}
