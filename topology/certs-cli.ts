/**
 * `cellctl certs rotate`: new leaves for the components of a `cellctl up --tls` data directory,
 * signed by its CA, written key first then certificate (shared/pki/store.ts). The running
 * processes take them without a restart: the routers, the cells and the control plane's HTTPS API
 * watch their files, the control plane pushes Envoy's by SDS, and `cellctl up` reloads Consul's
 * configuration (docs/tls.md §Rotation without restarts).
 * With `--ca`, a new CA in three steps with a wait between them (docs/tls.md §Rotating the CA).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { parseDurationMs } from '../shared/cli.js';
import { CellsimError } from '../shared/errors.js';
import { certFacts } from '../shared/pki/ca.js';
import { caStage, dropPrevious, moveNextKey, switchLeaves, trustBoth } from '../shared/pki/ca-rotation.js';
import { leavesOnDisk, reissueLeaves, RENEW_WITHIN_MS, tlsDir, type ReissuedLeaf } from '../shared/pki/store.js';
import { TOPOLOGY_DEFAULTS } from './config.js';

interface Flags {
  data: string;
  component?: string[];
  all?: boolean;
  ca?: boolean;
  resume?: boolean;
  settle?: string;
  json?: boolean;
}

/**
 * The default wait after each step of a CA rotation: ten of the 500 ms polls with which every
 * process (and the control plane's SDS source, which then pushes to Envoy at once) notices a
 * changed file, which covers an event loop starved for 2–3 s on a loaded machine
 * (docs/tls.md §A busy cell at the edge).
 */
export const DEFAULT_SETTLE = '5s';

/** What `certs rotate --ca` did: the CAs' serials before and after, and every leaf issued again. */
export interface CaRotation {
  dir: string;
  ca: { previousSerial: string; serial: string; notAfter: string };
  /** True when it finished a rotation an earlier run left half-done (`--resume`). */
  resumed: boolean;
  rotated: ReissuedLeaf[];
}

/**
 * Rotates the CA of `f.data` in three steps, each followed by `f.settle` (docs/tls.md §Rotating the CA),
 * calling `progress` with one line per step. Checks the input and the directory's state first;
 * a refusal writes nothing.
 */
export async function rotateCa(f: Flags, progress: (line: string) => void, sleep = delay): Promise<CaRotation> {
  if (f.all || f.component?.length)
    throw new CellsimError('invalid_request', '--ca rotates the CA and every leaf: leave --component and --all out');
  let settleMs: number;
  try {
    settleMs = parseDurationMs(f.settle ?? DEFAULT_SETTLE);
  } catch (err) {
    throw new CellsimError('invalid_request', `--settle: ${(err as Error).message}`);
  }
  const dir = requireCa(f.data);
  const stage = caStage(dir);
  if (stage.stage === 'both' && !f.resume)
    throw new CellsimError(
      'invalid_tls_config',
      `a CA rotation of ${dir} was left half-done (ca.crt trusts two CAs): finish it with cellctl certs rotate --ca --resume --data ${f.data}`,
    );
  if (stage.stage === 'one' && f.resume)
    throw new CellsimError('invalid_request', `no CA rotation of ${dir} to resume (ca.crt holds one CA)`);
  if (!leavesOnDisk(dir).length) throw new CellsimError('invalid_request', `no leaf certificate under ${dir}`);
  const wait = async (what: string) => {
    progress(`${what}; waiting ${settleMs} ms for every process to take it`);
    await sleep(settleMs);
  };
  let previous: string;
  let next: string;
  if (stage.stage === 'one') {
    ({ previous, next } = await trustBoth(dir));
    await wait(`step 1 of 3, trust both: ca.crt holds the new CA ${certFacts(next).serial} and the old ${certFacts(previous).serial}`);
  } else {
    if (!stage.keyMoved) moveNextKey(dir);
    ({ previous, next } = stage);
    await wait(
      `step 1 of 3, trust both (resumed): ca.crt already holds the new CA ${certFacts(next).serial} and the old ${certFacts(previous).serial}`,
    );
  }
  const rotated = await switchLeaves(dir);
  await wait(
    `step 2 of 3, switch leaves: ${rotated.length} leaves issued by the new CA (${rotated.map((r) => r.name).join(', ') || 'none left'})`,
  );
  await dropPrevious(dir);
  progress(`step 3 of 3, drop the old: ca.crt holds the new CA ${certFacts(next).serial} alone`);
  const facts = certFacts(next);
  return {
    dir,
    ca: { previousSerial: certFacts(previous).serial, serial: facts.serial, notAfter: facts.notAfter.toISOString() },
    resumed: stage.stage === 'both',
    rotated,
  };
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `<data>/tls/`, once it holds a CA (`ca.crt` and `ca.key`); else `invalid_tls_config`. */
function requireCa(data: string): string {
  const dir = tlsDir(data);
  if (!existsSync(join(dir, 'ca.crt')) || !existsSync(join(dir, 'ca.key')))
    throw new CellsimError('invalid_tls_config', `no CA under ${dir} (ca.crt and ca.key): cellctl up --tls --data ${data} makes it`);
  return dir;
}

/** Checks everything before writing anything; then rotates the leaves `f` names. */
export async function rotate(f: Flags, now = new Date()): Promise<{ dir: string; rotated: ReissuedLeaf[] }> {
  const dir = requireCa(f.data);
  const caEnds = certFacts(readFileSync(join(dir, 'ca.crt'), 'utf8')).notAfter;
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
  return { dir, rotated: await reissueLeaves(dir, leaves, names, now) };
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
    .option(
      '--ca',
      'rotate the CA itself: trust the new CA and the old, issue every leaf again by the new one, then drop the old (a wait after each step)',
    )
    .option('--settle <duration>', `with --ca: the wait after each step (e.g. 500ms, 5s; default ${DEFAULT_SETTLE})`)
    .option('--resume', 'with --ca: finish a CA rotation an earlier run left half-done')
    .option('--json', 'print one JSON document')
    .action(async (f: Flags) => {
      if (!f.ca && (f.settle !== undefined || f.resume)) return cmd.error('error: --settle and --resume go with --ca');
      if (!f.ca && !f.all === !f.component?.length) return cmd.error('error: give --component <name> (one or more), --all or --ca');
      try {
        if (f.ca) {
          const out = await rotateCa(f, (line) => process.stderr.write(`cellctl certs rotate --ca: ${line}\n`));
          if (f.json) return void process.stdout.write(`${JSON.stringify(out)}\n`);
          process.stdout.write(`rotated the CA: serial ${out.ca.previousSerial} -> ${out.ca.serial}, valid until ${out.ca.notAfter}\n`);
          for (const r of out.rotated) process.stdout.write(`rotated ${r.name}: serial ${r.previousSerial} -> ${r.serial}\n`);
          return;
        }
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
  const cmd = new Command('certs').description(
    'the certificates of a cellctl up --tls data directory: certs rotate issues new leaves, or a new CA with --ca',
  );
  cmd.addCommand(rotateCommand());
  return cmd;
}
