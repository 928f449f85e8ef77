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
  env?: { name: string; value?: string }[];
  ports?: { name?: string; containerPort: number }[];
}
interface Manifest {
  kind: string;
  metadata: { name: string };
  spec?: {
    selector?: Record<string, unknown>;
    template?: { metadata?: { labels?: Record<string, string> }; spec: { containers: Container[] } };
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
