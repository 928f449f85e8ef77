/**
 * The deployment manifests stay true to the CLI: every container runs a real `cellctl`
 * command with options that command declares, and every Service targets a declared port.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import type { Command } from 'commander';
import { COMMANDS } from '../../bin/commands.js';
import { ROUTER_NODE_OPTIONS } from '../../router/node-options.js';
import { pinnedVersions } from '../binaries.js';

interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name?: string; containerPort: number }[];
}
interface Manifest {
  kind: string;
  metadata: { name: string };
  spec?: {
    selector?: Record<string, unknown>;
    template?: {
      metadata?: { labels?: Record<string, string> };
      spec: { containers: Container[]; securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; fsGroup?: number } };
    };
    ports?: { targetPort?: string | number }[];
  };
}

const DIR = new URL('./k8s/', import.meta.url).pathname;
const manifests: Manifest[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((f) =>
    parseAllDocuments(readFileSync(join(DIR, f), 'utf8')).map((d) => {
      assert.equal(d.errors.length, 0, `${f}: ${d.errors.map((e) => e.message).join('; ')}`);
      return d.toJS() as Manifest;
    }),
  );

function longOptions(cmd: Command): Set<string> {
  return new Set(cmd.options.flatMap((o) => [o.long, o.negate ? undefined : undefined]).filter((x): x is string => x !== undefined));
}

describe('deployment manifests', () => {
  it('lists every manifest file in the kustomization', () => {
    const k = readFileSync(join(DIR, 'kustomization.yaml'), 'utf8');
    for (const f of readdirSync(DIR).filter((x) => x.endsWith('.yaml') && x !== 'kustomization.yaml')) assert.match(k, new RegExp(f));
  });

  const workloads = manifests.filter((m) => m.kind === 'Deployment' || m.kind === 'StatefulSet');

  it("launches every router container with the router's V8 options (router/node-options.ts)", () => {
    const routers = workloads.flatMap((w) => w.spec?.template?.spec.containers ?? []).filter((c) => c.args?.[0] === 'router');
    assert.ok(routers.length > 0, 'a router workload');
    for (const c of routers) assert.equal(c.env?.find((e) => e.name === 'NODE_OPTIONS')?.value, ROUTER_NODE_OPTIONS, c.name);
  });
  it('tells a cluster to run the pinned open-source Consul image (infra/versions.env), not the chart default', () => {
    const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
    assert.ok(readme.includes(`global.image=hashicorp/consul:${pinnedVersions().consul}`), 'infra/deploy/README.md names the pinned image');
  });
  it('has cells, routers, control plane and Envoy workloads', () => {
    assert.ok(workloads.length >= 5, `found ${workloads.length}`);
  });

  const argAfter = (c: Container, flag: string) => c.args?.[(c.args?.indexOf(flag) ?? -2) + 1];
  const fieldOf = (c: Container, name: string) => c.env?.find((e) => e.name === name)?.valueFrom?.fieldRef?.fieldPath;

  it('binds the control plane and the routers to their pod address and gives each pod its own ID (downward API)', () => {
    const planes = workloads
      .flatMap((w) => w.spec?.template?.spec.containers ?? [])
      .filter((c) => ['control-plane', 'router'].includes(c.args?.[0] ?? ''));
    assert.deepEqual(planes.map((c) => c.args?.[0]).sort(), ['control-plane', 'router']);
    for (const c of planes) {
      assert.equal(argAfter(c, '--host'), '$(POD_IP)', `${c.name}: --host`);
      assert.equal(argAfter(c, '--id'), '$(POD_NAME)', `${c.name}: --id`);
      assert.equal(fieldOf(c, 'POD_IP'), 'status.podIP', c.name);
      assert.equal(fieldOf(c, 'POD_NAME'), 'metadata.name', c.name);
    }
  });

  it("runs cells, routers and the control plane as the image's non-root user, their volumes group-owned (fsGroup)", () => {
    const uid = /^USER node$/m.test(readFileSync(new URL('./Dockerfile', import.meta.url), 'utf8')) ? 1000 : undefined;
    assert.equal(uid, 1000, 'the image runs as node (uid 1000)');
    for (const w of workloads.filter((x) => (x.spec?.template?.spec.containers ?? []).some((c) => c.args?.[0] !== 'envoy'))) {
      const sc = w.spec?.template?.spec.securityContext;
      assert.deepEqual([sc?.runAsNonRoot, sc?.runAsUser, sc?.fsGroup], [true, uid, uid], w.metadata.name);
    }
  });

  it('has a StatefulSet for every cell cellctl up runs (cell-0 … cell-3), each with its own id', () => {
    const cells = workloads.filter((w) => w.kind === 'StatefulSet' && w.metadata.name.startsWith('cell-'));
    assert.deepEqual(
      cells.map((w) => w.metadata.name),
      ['cell-0', 'cell-1', 'cell-2', 'cell-3'],
    );
    for (const w of cells) assert.equal(argAfter(w.spec!.template!.spec.containers[0]!, '--id'), w.metadata.name);
  });

  it('copies every infra module `cellctl doctor` imports into the image (it runs there too)', () => {
    const file = readFileSync(new URL('./Dockerfile', import.meta.url), 'utf8');
    const copied = new Set(
      file
        .split('\n')
        .filter((l) => l.startsWith('COPY infra/'))
        .flatMap((l) => l.split(/\s+/).slice(1, -1)),
    );
    const needed = new Set<string>();
    const visit = (name: string) => {
      if (needed.has(name)) return;
      needed.add(name);
      const text = readFileSync(new URL(`../${name}`, import.meta.url), 'utf8');
      for (const m of text.matchAll(/from '\.\/([\w-]+)\.js'/g)) visit(`${m[1]}.ts`);
    };
    visit('doctor.ts');
    assert.deepEqual(
      [...needed].filter((n) => !copied.has(`infra/${n}`)),
      [],
      'infra modules doctor needs but the image lacks',
    );
  });

  it("lets the image's user write the router bundle (node_modules/.cache) before it drops root", () => {
    const file = readFileSync(new URL('./Dockerfile', import.meta.url), 'utf8');
    const chown = file.indexOf('chown -R node:node /app/node_modules/.cache');
    assert.ok(chown > 0 && chown < file.lastIndexOf('USER node'), 'chown of node_modules/.cache before USER node');
  });

  for (const w of workloads) {
    it(`${w.kind} ${w.metadata.name} runs a real cellctl command with declared options`, async () => {
      for (const c of w.spec?.template?.spec.containers ?? []) {
        const [name, ...rest] = c.args ?? [];
        assert.ok(name, `${c.name}: no args`);
        const entry = COMMANDS[name];
        assert.ok(entry, `${c.name}: cellctl has no command '${name}'`);
        const opts = longOptions((await entry.load()).command());
        for (const arg of rest.filter((a) => a.startsWith('--'))) assert.ok(opts.has(arg), `cellctl ${name} has no option ${arg}`);
      }
    });
  }

  for (const s of manifests.filter((m) => m.kind === 'Service')) {
    it(`Service ${s.metadata.name} selects a workload and targets one of its named ports`, () => {
      const selector = s.spec?.selector ?? {};
      const target = workloads.find((w) => Object.entries(selector).every(([k, v]) => w.spec?.template?.metadata?.labels?.[k] === v));
      assert.ok(target, `no workload matches ${JSON.stringify(selector)}`);
      const names = new Set((target.spec?.template?.spec.containers ?? []).flatMap((c) => (c.ports ?? []).map((p) => p.name)));
      for (const p of s.spec?.ports ?? [])
        assert.ok(names.has(String(p.targetPort)), `targetPort ${String(p.targetPort)} is not a named port`);
    });
  }
});
