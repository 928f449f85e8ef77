/**
 * `cellctl deploy k8s`: the Kubernetes manifests of a cluster of `--cells` cells, built from the
 * topology model `cellctl up` runs (topology/k8s/objects.ts). infra/deploy/k8s/ is its output for
 * the default 4 cells (`cellctl deploy k8s --out infra/deploy/k8s`), checked in and compared with
 * a fresh render by infra/deploy/manifests.test.ts.
 */
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { parsePositiveInt } from '../../shared/cli.js';
import { TOPOLOGY_DEFAULTS } from '../config.js';
import { k8sManifests } from './objects.js';
import { renderManifests } from './render.js';

interface Flags {
  cells: number;
  out?: string;
  json?: boolean;
}

/** The kustomize configuration: written with the files, left out of the stream (it is no API object). */
const KUSTOMIZATION = 'kustomization.yaml';

/**
 * Writes every file into `dir` (made if missing), all or none as far as the filesystem allows:
 * a target that is not a regular file stops it before anything is written, every file goes to a
 * temporary file first, and only when all are written are they renamed into place.
 */
function writeAll(dir: string, files: { name: string; text: string }[]): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new Error(`--out ${dir}: not a directory`);
  for (const f of files) {
    const path = join(dir, f.name);
    if (existsSync(path) && !statSync(path).isFile()) throw new Error(`${path}: not a file; nothing written`);
  }
  mkdirSync(dir, { recursive: true });
  const written: [string, string][] = [];
  try {
    for (const f of files) {
      const tmp = join(dir, `.${f.name}.${process.pid}.tmp`);
      written.push([tmp, join(dir, f.name)]);
      writeFileSync(tmp, f.text, { flag: 'wx' });
    }
    for (const [tmp, path] of written) renameSync(tmp, path);
  } catch (err) {
    for (const [tmp] of written) rmSync(tmp, { force: true });
    throw err;
  }
}

function k8sCommand(): Command {
  return new Command('k8s')
    .description(
      'the Kubernetes manifests of a cluster of --cells cells (cell-0 the canary): into --out as the kustomization infra/deploy/k8s/ is, or every object as one multi-document YAML stream on stdout',
    )
    .option('--cells <n>', 'number of cells, cell-0 … cell-(n-1)', parsePositiveInt, TOPOLOGY_DEFAULTS.cells)
    .option('--out <dir>', 'write the files (and kustomization.yaml) into this directory, replacing files of the same names')
    .option('--json', 'print one JSON document: {cells, dir, files} with --out, else {cells, objects} (every object)')
    .addHelpText(
      'after',
      '\nThe Secrets the pods mount are made by the kustomization from `cellctl seed secrets` files: apply --out with\n`kubectl apply -k <dir>` (infra/deploy/README.md). infra/deploy/k8s/ is `cellctl deploy k8s --out infra/deploy/k8s`.',
    )
    .action((f: Flags) => {
      const files = renderManifests({ cells: f.cells });
      if (f.out) {
        try {
          writeAll(f.out, files);
        } catch (err) {
          const message = (err as Error).message;
          if (f.json) process.stdout.write(`${JSON.stringify({ error: { code: 'command_failed', message } })}\n`);
          process.stderr.write(`cellctl deploy k8s: command_failed: ${message}\n`);
          process.exitCode = 1;
          return;
        }
        const names = files.map((x) => x.name);
        if (f.json) return void process.stdout.write(`${JSON.stringify({ cells: f.cells, dir: f.out, files: names })}\n`);
        return void process.stdout.write(`${f.out}: wrote ${names.join(', ')} (${f.cells} cells)\n`);
      }
      if (f.json) {
        const objects = k8sManifests({ cells: f.cells }).flatMap((x) => (x.name === KUSTOMIZATION ? [] : x.docs.map((d) => d.object)));
        return void process.stdout.write(`${JSON.stringify({ cells: f.cells, objects })}\n`);
      }
      const resources = files.filter((x) => x.name !== KUSTOMIZATION);
      process.stdout.write(resources.map((x) => `# Source: ${x.name}\n${x.text}`).join('---\n'));
    });
}

/** Builds the command. */
export function command(): Command {
  return new Command('deploy')
    .enablePositionalOptions()
    .description('deployment files built from the topology model cellctl up runs (k8s: Kubernetes manifests)')
    .addCommand(k8sCommand());
}
