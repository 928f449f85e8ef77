/**
 * Import rules (docs/contracts.md §Parts and layering): the router never imports control-plane code, cells import
 * neither the router nor the control plane, and shared/ imports no part. Checked on the
 * source text of every module.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) sources(p, out);
    else if (/\.(ts|mjs|js)$/.test(e.name)) out.push(p);
  }
  return out;
}

/** Top-level folders a file's relative imports reach. */
function importedParts(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const parts: string[] = [];
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = relative(ROOT, resolve(join(ROOT, dirname(file)), m[1]!));
    parts.push(target.split('/')[0]!);
  }
  return parts;
}

const FORBIDDEN: Record<string, string[]> = {
  router: ['control-plane', 'cells', 'loadtest'],
  cells: ['router', 'control-plane', 'loadtest'],
  shared: ['router', 'cells', 'control-plane', 'loadtest', 'infra'],
};

describe('layering', () => {
  for (const [part, banned] of Object.entries(FORBIDDEN)) {
    it(`${part}/ imports none of ${banned.join(', ')}`, () => {
      const files = sources(part).filter((f) => !f.endsWith('.test.ts'));
      assert.ok(files.length > 0, `no sources under ${part}/`);
      const bad = files.flatMap((f) =>
        importedParts(f)
          .filter((p) => banned.includes(p))
          .map((p) => `${f} → ${p}/`),
      );
      assert.deepEqual(bad, []);
    });
  }
});
