/**
 * The deployment manifests stay true to the CLI and to each other: every container runs a real
 * `cellctl` command with options that command declares, the seed Job seeds the cells and Consul
 * nodes the manifests run, and the cross-checks of manifests.ts (Services, NetworkPolicies,
 * Secrets, probes, IDs) find nothing. The strict schema check is validate.test.ts. The files are
 * `cellctl deploy k8s`'s output (topology/k8s/), and the command is tested here at other sizes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { Command } from 'commander';
import { COMMANDS } from '../../bin/commands.js';
import { BUNDLED_COMMANDS } from '../../bin/bundle.mjs';
import { ROUTER_NODE_OPTIONS } from '../../router/node-options.js';
import { pinnedVersions } from '../binaries.js';
import { renderManifests } from '../../topology/k8s/render.js';
import {
  admits,
  idProblems,
  loadKustomization,
  loadManifests,
  networkPolicyProblems,
  probeProblems,
  referenceProblems,
  selects,
  serviceProblems,
  workloads,
  type Container,
} from './manifests.js';

const DIR = new URL('./k8s/', import.meta.url).pathname;
const kust = loadKustomization(DIR);
const manifests = loadManifests(DIR, kust);
const pods = workloads(manifests);
const containers = pods.flatMap((w) => w.spec.template.spec.containers.map((c) => ({ w, c })));
const cellctl = containers.filter(({ c }) => c.image === 'cellsim:dev');
const dockerfile = readFileSync(new URL('./Dockerfile', import.meta.url), 'utf8');

function longOptions(cmd: Command): Set<string> {
  return new Set(cmd.options.map((o) => o.long).filter((x): x is string => x !== undefined));
}
/** The subcommand a container runs (`seed secrets` → that subcommand) and its options. */
async function optionsOf(args: string[]): Promise<Set<string> | undefined> {
  const entry = COMMANDS[args[0] ?? ''];
  if (!entry) return undefined;
  let cmd = (await entry.load()).command();
  const sub = cmd.commands.find((s) => s.name() === args[1]);
  if (sub) cmd = sub;
  return longOptions(cmd);
}
const argAfter = (c: Container, flag: string) => c.args?.[(c.args?.indexOf(flag) ?? -2) + 1];
const fieldOf = (c: Container, name: string) => c.env?.find((e) => e.name === name)?.valueFrom?.fieldRef?.fieldPath;
const ofCommand = (name: string) => cellctl.filter(({ c }) => c.args?.[0] === name);

describe('deployment manifests', () => {
  it('lists every manifest file in the kustomization, and only files that exist', () => {
    const files = readdirSync(DIR).filter((x) => x.endsWith('.yaml') && x !== 'kustomization.yaml');
    assert.deepEqual([...kust.resources].sort(), files.sort());
  });
  it('puts every object in the cellsim namespace', () => {
    assert.equal(kust.namespace, 'cellsim');
    for (const o of manifests.filter((x) => x.kind !== 'Namespace'))
      assert.equal(o.metadata.namespace, 'cellsim', `${o.kind} ${o.metadata.name}`);
  });

  it("launches every router container with the router's V8 options (router/node-options.ts)", () => {
    assert.ok(ofCommand('router').length > 0, 'a router workload');
    for (const { c } of ofCommand('router'))
      assert.equal(c.env?.find((e) => e.name === 'NODE_OPTIONS')?.value, ROUTER_NODE_OPTIONS, c.name);
  });

  it('runs the pinned open-source Consul (infra/versions.env; 1.17 and later are BSL) as 3 servers that expect and join each other', () => {
    const consul = pods.filter((w) => w.spec.template.spec.containers.some((c) => c.image?.startsWith('hashicorp/consul:')));
    assert.equal(consul.length, 1, 'one Consul StatefulSet');
    const [sts] = consul;
    const c = sts!.spec.template.spec.containers[0]!;
    assert.equal(c.image, `hashicorp/consul:${pinnedVersions().consul}`);
    assert.match(pinnedVersions().consul, /^1\.16\./);
    assert.equal(sts!.kind, 'StatefulSet');
    assert.equal(sts!.spec.replicas, 3);
    const args = c.args ?? [];
    assert.ok(args.includes('-server') && args.includes(`-bootstrap-expect=${sts!.spec.replicas}`), 'servers expecting every replica');
    const names = Array.from({ length: 3 }, (_, i) => `${sts!.metadata.name}-${i}`);
    const joins = args.filter((a) => a.startsWith('-retry-join=')).map((a) => a.slice('-retry-join='.length));
    assert.deepEqual(
      joins,
      names.map((n) => `${n}.${sts!.spec.serviceName}`),
      'retry-join names every server through the headless Service',
    );
    for (const flag of ['-bind', '-advertise', '-client']) assert.ok(args.includes(`${flag}=$(POD_IP)`), flag);
  });

  it('has cells, routers, control plane, Envoy, Consul and the seed Job', () => {
    assert.deepEqual([...new Set(cellctl.map(({ c }) => c.args?.[0]))].sort(), ['cell', 'control-plane', 'envoy', 'router', 'seed']);
  });

  it('binds every process to its pod address, so probes and Services reach it there', () => {
    for (const name of ['cell', 'control-plane', 'router'])
      for (const { c } of ofCommand(name)) assert.equal(argAfter(c, '--host'), '$(POD_IP)', `${name}: --host`);
    for (const { c } of ofCommand('envoy')) assert.equal(argAfter(c, '--listen-address'), '$(POD_IP)', 'envoy: --listen-address');
    for (const { c } of containers.filter((x) => (x.c.args ?? []).some((a) => a.includes('$(POD_IP)'))))
      assert.equal(fieldOf(c, 'POD_IP'), 'status.podIP', c.name);
  });

  it('gives each pod its own ID: no two replicas can share one (downward API, or a literal in a one-replica StatefulSet)', async () => {
    const takesId = new Map<string, boolean>();
    for (const { c } of cellctl) takesId.set(c.args![0]!, (await optionsOf(c.args!))?.has('--id') ?? false);
    assert.deepEqual(
      idProblems(manifests, (c) => c.image === 'cellsim:dev' && takesId.get(c.args?.[0] ?? '') === true),
      [],
    );
  });

  it('seeds the cells and Consul nodes the manifests run (the seed Job agrees with cells.yaml and consul.yaml)', () => {
    const [seed] = ofCommand('seed');
    assert.ok(seed, 'a seed Job');
    assert.equal(seed.w.kind, 'Job');
    const cells = pods.filter((w) => w.kind === 'StatefulSet' && w.metadata.name.startsWith('cell-')).map((w) => w.metadata.name);
    assert.equal(Number(argAfter(seed.c, '--cells')), cells.length, '--cells');
    assert.deepEqual(
      cells,
      Array.from({ length: cells.length }, (_, i) => `cell-${i}`),
    );
    const consul = pods.find((w) => w.metadata.name === 'consul')!;
    assert.equal(argAfter(seed.c, '--nodes'), Array.from({ length: consul.spec.replicas! }, (_, i) => `consul-${i}`).join(','), '--nodes');
    const url = `http://${manifests.find((o) => o.kind === 'Service' && o.metadata.name === 'consul-server')?.metadata.name}:8500`;
    assert.equal(argAfter(seed.c, '--consul'), url);
    for (const { c } of cellctl.filter((x) => x.c.env?.some((e) => e.name === 'CELLSIM_CONSUL')))
      assert.equal(c.env?.find((e) => e.name === 'CELLSIM_CONSUL')?.value, url, c.name);
  });

  it('has more than 2 cells: a StatefulSet for each of cell-0 … cell-3, each with its own id and volume', () => {
    const cells = pods.filter((w) => w.kind === 'StatefulSet' && w.metadata.name.startsWith('cell-'));
    assert.deepEqual(
      cells.map((w) => w.metadata.name),
      ['cell-0', 'cell-1', 'cell-2', 'cell-3'],
    );
    for (const w of cells) assert.equal(argAfter(w.spec.template.spec.containers[0]!, '--id'), w.metadata.name);
  });

  it("runs every pod as its image's non-root user, volumes group-owned (fsGroup), no privilege escalation, read-only root, no capabilities", () => {
    const node = /^USER node$/m.test(dockerfile) ? 1000 : undefined;
    assert.equal(node, 1000, 'the image runs as node (uid 1000)');
    for (const w of pods) {
      const sc = w.spec.template.spec.securityContext;
      const uid: number | undefined = w.metadata.name === 'consul' ? 100 : node; // hashicorp/consul's consul user
      assert.deepEqual(
        [sc?.runAsNonRoot, sc?.runAsUser, sc?.fsGroup, sc?.seccompProfile?.type],
        [true, uid, 1000, 'RuntimeDefault'],
        w.metadata.name,
      );
      for (const c of w.spec.template.spec.containers) {
        const csc = (
          c as {
            securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } };
          }
        ).securityContext;
        assert.deepEqual(
          [csc?.allowPrivilegeEscalation, csc?.readOnlyRootFilesystem, csc?.capabilities?.drop],
          [false, true, ['ALL']],
          c.name,
        );
      }
    }
  });

  it('lets every bundled command write its bundle under a read-only root: an emptyDir at node_modules/.cache/cellsim-bundle', () => {
    const bundled = BUNDLED_COMMANDS.flatMap((name) => ofCommand(name));
    assert.deepEqual(
      [...new Set(bundled.map(({ c }) => c.args![0]))].sort(),
      [...BUNDLED_COMMANDS].sort(),
      'each bundled command runs in a container',
    );
    for (const { c } of bundled)
      assert.ok(
        c.volumeMounts?.some((m) => m.mountPath === '/app/node_modules/.cache/cellsim-bundle'),
        c.name,
      );
    const chown = dockerfile.indexOf('chown -R node:node /app/node_modules/.cache');
    assert.ok(chown > 0 && chown < dockerfile.lastIndexOf('USER node'), 'chown of node_modules/.cache before USER node');
  });

  it("copies into the image every source module the containers' commands and `cellctl doctor` import", () => {
    const copied = dockerfile
      .split('\n')
      .filter((l) => l.startsWith('COPY ') && !l.includes('--from'))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    const inImage = (path: string) => copied.some((c) => path === c || path.startsWith(`${c}/`));
    const ROOT = new URL('../../', import.meta.url);
    const seen = new Set<string>();
    const visit = (path: string) => {
      if (seen.has(path)) return;
      seen.add(path);
      const text = readFileSync(new URL(path, ROOT), 'utf8');
      for (const m of text.matchAll(/^import (?!type )[^;]*?from '(\.{1,2}\/[^']+)\.js'|import\('(\.{1,2}\/[^']+)\.js'\)/gm)) {
        const spec = m[1] ?? m[2]!;
        visit(new URL(`${spec}.ts`, new URL(path, ROOT)).pathname.slice(ROOT.pathname.length));
      }
    };
    const commands = readFileSync(new URL('bin/commands.ts', ROOT), 'utf8');
    for (const name of [...new Set(cellctl.map(({ c }) => c.args![0]!)), 'doctor']) {
      const m = new RegExp(`['"]?${name}['"]?: \\{[^}]*?import\\('\\.\\./([^']+)\\.js'\\)`, 's').exec(commands);
      assert.ok(m, `bin/commands.ts loads ${name}`);
      visit(`${m[1]}.ts`);
    }
    assert.deepEqual(
      [...seen].filter((p) => !inImage(p)),
      [],
      'modules the image needs but lacks',
    );
  });

  for (const { w, c } of cellctl) {
    it(`${w.kind} ${w.metadata.name} runs a real cellctl command with declared options`, async () => {
      const args = c.args ?? [];
      const opts = await optionsOf(args);
      assert.ok(opts, `${c.name}: cellctl has no command '${args[0]}'`);
      for (const arg of args.filter((a) => a.startsWith('--'))) assert.ok(opts.has(arg), `cellctl ${args[0]} has no option ${arg}`);
      assert.ok(!args.some((a) => /^[0-9a-f]{32,}$|^[0-9a-f-]{36}$/.test(a)), 'no token on argv');
    });
  }

  describe('cross-checks between objects (manifests.ts)', () => {
    it('every Service selects pods and targets their ports; every StatefulSet has its headless Service', () => {
      assert.deepEqual(serviceProblems(manifests, kust), []);
    });
    it('every NetworkPolicy, and every peer it admits, selects existing pods on ports they declare', () => {
      assert.deepEqual(networkPolicyProblems(manifests, kust), []);
    });
    it('every Secret and ConfigMap a pod uses exists with the keys it names; every token file path is a mounted key', () => {
      assert.deepEqual(referenceProblems(manifests, kust), []);
    });
    it('every probe checks the pod address on a named port', () => {
      assert.deepEqual(probeProblems(manifests), []);
    });
    it('only the edge, the control plane, the other cells (share-peer reads) and Consul (its health check) reach the cells; only the Envoys reach xDS', () => {
      const component = (name: string) => pods.find((w) => w.spec.template.metadata?.labels?.['app.kubernetes.io/component'] === name)!;
      const labels = (name: string) => component(name).spec.template.metadata?.labels ?? {};
      const np = manifests.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'default-deny-ingress');
      assert.deepEqual(np?.spec?.podSelector, {});
      const all = ['cell', 'router', 'envoy', 'control-plane', 'consul', 'seed'];
      for (const cell of pods.filter((w) => w.metadata.name.startsWith('cell-')))
        assert.deepEqual(
          all.filter((c) => admits(manifests, kust, labels(c), cell, 9100)),
          ['cell', 'router', 'envoy', 'control-plane', 'consul'],
          cell.metadata.name,
        );
      const cp = component('control-plane');
      assert.deepEqual(
        all.filter((c) => admits(manifests, kust, labels(c), cp, 18000)),
        ['envoy'],
      );
    });
    it('denies egress by default: each component reaches DNS and Consul, and beyond them only what it uses', () => {
      const component = (name: string) => pods.find((w) => w.spec.template.metadata?.labels?.['app.kubernetes.io/component'] === name)!;
      const labels = (name: string) => component(name).spec.template.metadata?.labels ?? {};
      const deny = manifests.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'default-deny-egress');
      assert.deepEqual([deny?.spec?.podSelector, deny?.spec?.policyTypes, deny?.spec?.egress], [{}, ['Egress'], undefined]);
      const all = ['cell', 'router', 'envoy', 'control-plane', 'consul', 'seed'];
      for (const c of all) assert.ok(admits(manifests, kust, labels(c), component('consul'), 8500), `${c} reaches Consul`);
      const dns = manifests.filter(
        (o) =>
          o.kind === 'NetworkPolicy' && (o.spec?.egress ?? []).some((r) => r.ports?.some((p) => p.port === 53 && p.protocol === 'UDP')),
      );
      for (const c of all)
        assert.ok(
          dns.some((np) => selects(np.spec?.podSelector, labels(c))),
          `${c} reaches DNS`,
        );
      // The ingress of these ports admits every pod: only egress keeps the others off.
      assert.deepEqual(
        all.filter((c) => admits(manifests, kust, labels(c), component('control-plane'), 8090)),
        ['consul'],
      );
      assert.deepEqual(
        all.filter((c) => admits(manifests, kust, labels(c), component('router'), 8080)),
        ['control-plane', 'consul'],
        "the control plane asks each router's /route before a migration freezes its source (docs/operators.md §The freeze barrier)",
      );
      for (const cell of pods.filter((w) => w.metadata.name.startsWith('cell-')))
        assert.deepEqual(
          all.filter((c) => admits(manifests, kust, labels(c), cell, 9100)),
          ['cell', 'router', 'envoy', 'control-plane', 'consul'],
          cell.metadata.name,
        );
    });
    it("lets Consul run every registered process's HTTP check on its --port", () => {
      const consul = pods.find((w) => w.metadata.name === 'consul')!.spec.template.metadata?.labels ?? {};
      const registered = cellctl.filter(({ c }) => c.env?.some((e) => e.name === 'CELLSIM_CONSUL') && c.args?.includes('--port'));
      assert.ok(registered.length >= 3);
      for (const { w, c } of registered) assert.ok(admits(manifests, kust, consul, w, Number(argAfter(c, '--port'))), w.metadata.name);
    });
  });
});

const CELLCTL = new URL('../../bin/cellctl.js', import.meta.url).pathname;
/** Runs `cellctl args` to its end. */
function runCellctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CELLCTL, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

describe('cellctl deploy k8s: the manifests from the topology model (topology/k8s/)', () => {
  const work = mkdtempSync(join(tmpdir(), 'cellsim-deploy-k8s-'));
  after(() => rmSync(work, { recursive: true, force: true }));

  it('infra/deploy/k8s/ is exactly its output for the default 4 cells: a hand edit fails here (regenerate with cellctl deploy k8s --out infra/deploy/k8s)', () => {
    const files = renderManifests();
    assert.deepEqual(
      readdirSync(DIR)
        .filter((f) => f.endsWith('.yaml'))
        .sort(),
      files.map((f) => f.name).sort(),
      'the YAML files of infra/deploy/k8s',
    );
    for (const f of files)
      assert.equal(readFileSync(join(DIR, f.name), 'utf8'), f.text, `${f.name} differs from cellctl deploy k8s's output`);
  });

  it('writes its files with --out, and keeps the cross-checks clean at another size (6 cells: cell-0 the canary, the seed Job agreeing)', async () => {
    const six = join(work, 'six');
    const j = await runCellctl(['deploy', 'k8s', '--cells', '6', '--out', six, '--json']);
    assert.equal(j.code, 0, j.stderr);
    const out = JSON.parse(j.stdout) as { cells: number; dir: string; files: string[] };
    const files = renderManifests({ cells: 6 });
    assert.deepEqual([out.cells, out.dir, out.files], [6, six, files.map((f) => f.name)]);
    assert.deepEqual(readdirSync(six).sort(), out.files.sort(), 'the files written, nothing else');
    for (const f of files) assert.equal(readFileSync(join(six, f.name), 'utf8'), f.text, f.name);
    const k = loadKustomization(six);
    const objs = loadManifests(six, k);
    const cells = workloads(objs).filter((w) => w.kind === 'StatefulSet' && w.metadata.name.startsWith('cell-'));
    assert.deepEqual(
      cells.map((w) => w.metadata.name),
      ['cell-0', 'cell-1', 'cell-2', 'cell-3', 'cell-4', 'cell-5'],
    );
    const cpu = (w: (typeof cells)[number]) =>
      (w.spec.template.spec.containers[0] as { resources?: { requests?: { cpu?: string } } }).resources?.requests?.cpu;
    assert.deepEqual(cells.map(cpu), ['100m', '500m', '500m', '500m', '500m', '500m'], 'cell-0 the small canary');
    const seed = workloads(objs).find((w) => w.kind === 'Job')!.spec.template.spec.containers[0]!;
    assert.equal(argAfter(seed, '--cells'), '6');
    assert.deepEqual(
      [serviceProblems(objs, k), networkPolicyProblems(objs, k), referenceProblems(objs, k), probeProblems(objs)],
      [[], [], [], []],
    );
  });

  it('prints every object as one YAML stream on stdout without --out (kustomization.yaml left out), or one JSON document with --json', async () => {
    const y = await runCellctl(['deploy', 'k8s', '--cells', '2']);
    assert.equal(y.code, 0, y.stderr);
    const docs = parseAllDocuments(y.stdout).map((d) => {
      assert.deepEqual(d.errors, []);
      return d.toJS() as { kind: string; metadata: { name: string } };
    });
    const names = docs.map((d) => `${d.kind}/${d.metadata.name}`);
    assert.ok(names.includes('StatefulSet/cell-1') && !names.includes('StatefulSet/cell-2'), names.join(' '));
    assert.ok(!names.some((n) => n.startsWith('Kustomization/')));
    const j = await runCellctl(['deploy', 'k8s', '--cells', '2', '--json']);
    assert.equal(j.code, 0, j.stderr);
    const parsed = JSON.parse(j.stdout) as { cells: number; objects: unknown[] };
    assert.equal(parsed.cells, 2);
    assert.deepEqual(parsed.objects, docs);
  });

  it('refuses --cells 0 or a non-number with a clear error, exit 1, and writes nothing', async () => {
    for (const bad of ['0', 'four']) {
      const out = join(work, `bad-${bad}`);
      const r = await runCellctl(['deploy', 'k8s', '--cells', bad, '--out', out]);
      assert.equal(r.code, 1, bad);
      assert.match(r.stderr, new RegExp(`option '--cells <n>' argument '${bad}' is invalid\\. .* is not a positive integer`), bad);
      assert.equal(r.stdout, '', bad);
      assert.equal(existsSync(out), false, `${bad}: ${out} made`);
    }
  });

  it('writes nothing when --out is not a directory or one of its files is not a file, and says which', async () => {
    const file = join(work, 'a-file');
    writeFileSync(file, 'x');
    const r = await runCellctl(['deploy', 'k8s', '--out', file, '--json']);
    assert.equal(r.code, 1);
    assert.deepEqual(JSON.parse(r.stdout), { error: { code: 'command_failed', message: `--out ${file}: not a directory` } });
    assert.match(r.stderr, /^cellctl deploy k8s: command_failed: --out .*a-file: not a directory$/m);
    const out = join(work, 'blocked');
    mkdirSync(out);
    for (const f of readdirSync(DIR).filter((x) => x.endsWith('.yaml'))) writeFileSync(join(out, f), readFileSync(join(DIR, f)));
    writeFileSync(join(out, 'cells.yaml'), 'old\n');
    rmSync(join(out, 'seed.yaml'));
    mkdirSync(join(out, 'seed.yaml'));
    const before = readFileSync(join(out, 'consul.yaml'), 'utf8');
    const b = await runCellctl(['deploy', 'k8s', '--cells', '5', '--out', out]);
    assert.equal(b.code, 1);
    assert.match(b.stderr, /seed\.yaml: not a file; nothing written/);
    assert.equal(readFileSync(join(out, 'cells.yaml'), 'utf8'), 'old\n', 'cells.yaml replaced although nothing was to be written');
    assert.equal(readFileSync(join(out, 'consul.yaml'), 'utf8'), before);
    assert.deepEqual(
      readdirSync(out).filter((f) => f.endsWith('.tmp')),
      [],
      'temporary files left',
    );
  });
});
