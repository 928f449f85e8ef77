/**
 * The strict schema check: every object of the kustomization decoded through client-go's scheme
 * (the real API types of k8s.io/api v0.37.2) with strict decoding, by the Go program in
 * infra/deploy/validate/. Built offline (GOPROXY=off) from the modules infra/install.sh fetched;
 * its build cache is Go's own (`go env GOCACHE`), warm after setup. Fails when `go` or a
 * module is missing: the check never silently passes.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadKustomization, loadManifests } from './manifests.js';

const SRC = new URL('./validate/', import.meta.url).pathname;
const DIR = new URL('./k8s/', import.meta.url).pathname;
const ENV = {
  ...process.env,
  GOFLAGS: '-mod=readonly -buildvcs=false',
  GOPROXY: 'off',
  GOTOOLCHAIN: 'local',
};

interface Report {
  objects: { file: string; kind: string; name: string }[];
  errors: string[];
}

let work: string;
let bin: string;

/** Runs the validator; resolves with its exit code and report. */
function validate(files: string[]): Promise<{ code: number; report: Report }> {
  return new Promise((resolve, reject) => {
    execFile(bin, files, { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      try {
        resolve({ code, report: JSON.parse(stdout) as Report });
      } catch {
        reject(new Error(`validator exited ${code} without a report: ${stderr}`));
      }
    });
  });
}

before(
  () => {
    try {
      execFileSync('go', ['version'], { env: ENV });
    } catch {
      assert.fail('go not found: the manifest validator is built with Go (install Go, then run `npm run setup`)');
    }
    work = mkdtempSync(join(tmpdir(), 'cellsim-k8s-validate-'));
    bin = join(work, 'validate');
    try {
      execFileSync('go', ['build', '-o', bin, '.'], { cwd: SRC, env: ENV, stdio: 'pipe', timeout: 540_000 });
    } catch (err) {
      const stderr = String((err as { stderr?: Buffer }).stderr ?? '');
      assert.fail(`building infra/deploy/validate failed (modules missing? run \`bash infra/install.sh k8s-validate\`):\n${stderr}`);
    }
  },
  // install.sh compiles it into Go's build cache; a cold build (no setup run) takes minutes on 2 cores
  { timeout: 600_000 },
);
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('manifests against the Kubernetes API types (client-go scheme, strict)', () => {
  it('decodes every object of the kustomization without an unknown field or a wrong type', async () => {
    const kust = loadKustomization(DIR);
    const { code, report } = await validate(kust.resources.map((f) => join(DIR, f)));
    assert.deepEqual(report.errors, []);
    assert.equal(code, 0);
    const expected = loadManifests(DIR, kust).map((o) => `${o.kind}/${o.metadata.name}`);
    assert.deepEqual(
      report.objects.map((o) => `${o.kind}/${o.name}`),
      expected,
      'the validator saw every object the YAML holds',
    );
  });

  it('refuses an unknown field, a value of the wrong type and an unknown kind (the check is strict)', async () => {
    const cases: Record<string, [string, RegExp]> = {
      'unknown-field.yaml': [
        'apiVersion: v1\nkind: Service\nmetadata: { name: a, namespace: cellsim }\nspec: { selectr: { a: b }, ports: [{ port: 80 }] }\n',
        /unknown field "spec.selectr"/,
      ],
      'wrong-type.yaml': [
        'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: a }\nspec: { replicas: two, selector: {}, template: { spec: { containers: [] } } }\n',
        /replicas/,
      ],
      'bad-quantity.yaml': [
        'apiVersion: v1\nkind: Pod\nmetadata: { name: a }\nspec: { containers: [{ name: c, image: i, resources: { limits: { memory: 1 gig } } }] }\n',
        /quantities must match/,
      ],
      'unknown-kind.yaml': ['apiVersion: v1\nkind: Servce\nmetadata: { name: a }\n', /no kind "Servce" is registered/],
    };
    for (const [file, [text]] of Object.entries(cases)) writeFileSync(join(work, file), text);
    for (const [file, [, why]] of Object.entries(cases)) {
      const { code, report } = await validate([join(work, file)]);
      assert.equal(code, 1, file);
      assert.equal(report.errors.length, 1, file);
      assert.match(report.errors[0]!, why, file);
    }
    // The same strictness on a real manifest: one field misspelt in cells.yaml fails it.
    const cells = readFileSync(join(DIR, 'cells.yaml'), 'utf8').replace('readinessProbe:', 'readynessProbe:');
    writeFileSync(join(work, 'cells.yaml'), cells);
    const { code, report } = await validate([join(work, 'cells.yaml')]);
    assert.equal(code, 1);
    assert.match(report.errors.join('\n'), /unknown field "spec.template.spec.containers\[0\].readynessProbe"/);
  });
});
