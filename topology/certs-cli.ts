/**
 * `cellctl certs rotate`: new leaves for the components of a `cellctl up --tls` data directory,
 * signed by its CA, written key first then certificate (shared/pki/store.ts). The running
 * processes take them without a restart: the routers, the cells and the control plane's HTTPS API
 * watch their files, the control plane pushes Envoy's by SDS, and `cellctl up` reloads Consul's
 * configuration (docs/tls.md §Rotation without restarts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { CellsimError } from '../shared/errors.js';
import { certFacts } from '../shared/pki/ca.js';
import { leavesOnDisk, RENEW_WITHIN_MS, rotateCertificates, tlsDir, tlsFiles } from '../shared/pki/store.js';
import { readFileSync } from 'node:fs';
import { TOPOLOGY_DEFAULTS } from './config.js';

interface Flags {
  data: string;
  component?: string[];
  all?: boolean;
  json?: boolean;
}

/** One rotated leaf. */
export interface RotatedLeaf {
  name: string;
  previousSerial: string;
  serial: string;
  notAfter: string;
}

/** Checks everything before writing anything; then rotates the leaves `f` names. */
export async function rotate(f: Flags, now = new Date()): Promise<{ dir: string; rotated: RotatedLeaf[] }> {
  const dir = tlsDir(f.data);
  const ca = join(dir, 'ca.crt');
  if (!existsSync(ca) || !existsSync(join(dir, 'ca.key')))
    throw new CellsimError('invalid_tls_config', `no CA under ${dir} (ca.crt and ca.key): cellctl up --tls --data ${f.data} makes it`);
  const caEnds = certFacts(readFileSync(ca, 'utf8')).notAfter;
  if (caEnds.getTime() - now.getTime() <= RENEW_WITHIN_MS)
    throw new CellsimError(
      'invalid_tls_config',
      `the CA of ${dir} ends ${caEnds.toISOString()}: cellctl up --tls renews it and every leaf (a rotation keeps the CA)`,
    );
  const leaves = leavesOnDisk(dir);
  const known = leaves.map((l) => l.name);
  const names = f.all ? known : [...new Set(f.component ?? [])];
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length)
    throw new CellsimError('invalid_request', `no certificate named ${unknown.join(', ')} under ${dir} (known: ${known.join(', ')})`);
  if (!names.length) throw new CellsimError('invalid_request', `no leaf certificate under ${dir}`);
  const serialOf = (name: string) => certFacts(readFileSync(tlsFiles(dir, name).cert, 'utf8'));
  const previous = new Map(names.map((n) => [n, serialOf(n).serial]));
  await rotateCertificates(dir, leaves, names, now);
  return {
    dir,
    rotated: names.map((name) => {
      const facts = serialOf(name);
      return { name, previousSerial: previous.get(name)!, serial: facts.serial, notAfter: facts.notAfter.toISOString() };
    }),
  };
}

function rotateCommand(): Command {
  const cmd = new Command('rotate')
    .description(
      'issue new leaf certificates (same names, same CA) under <data>/tls/; routers, cells, the control plane, Envoy (by SDS) and Consul (reloaded by cellctl up) take them without a restart',
    )
    .option('--data <dir>', 'the data directory of cellctl up --tls (its tls/ holds the CA and the leaves)', TOPOLOGY_DEFAULTS.dataDir)
    .option(
      '--component <name>',
      'a leaf to rotate (router, envoy, control-plane, consul, supervisor, cell-0, …); repeatable',
      (v: string, acc: string[] = []) => [...acc, v],
    )
    .option('--all', 'rotate every leaf under <data>/tls/')
    .option('--json', 'print one JSON document')
    .action(async (f: Flags) => {
      if (!f.all === !f.component?.length) return cmd.error('error: give --component <name> (one or more) or --all');
      try {
        const out = await rotate(f);
        if (f.json) return void process.stdout.write(`${JSON.stringify(out)}\n`);
        for (const r of out.rotated)
          process.stdout.write(`rotated ${r.name}: serial ${r.previousSerial} -> ${r.serial}, valid until ${r.notAfter}\n`);
        process.stdout.write(
          "the routers, the cells, the control plane (xDS, HTTPS API and its clients of cells, routers and the supervisor), the supervisor's channel, Envoy (by SDS, and its xDS client certificate) and Consul (reloaded by cellctl up) take the new leaves within a second or so, without a restart (the old leaves stay valid)\n",
        );
      } catch (err) {
        const code = err instanceof CellsimError ? err.code : 'command_failed';
        const message = (err as Error).message;
        if (f.json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
        process.stderr.write(`cellctl certs rotate: ${code}: ${message}\n`);
        process.exitCode = 1;
      }
    });
  return cmd;
}

/** Builds the command. */
export function command(): Command {
  const cmd = new Command('certs').description('the certificates of a cellctl up --tls data directory: certs rotate issues new leaves');
  cmd.addCommand(rotateCommand());
  return cmd;
}
