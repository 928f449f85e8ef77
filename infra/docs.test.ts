/**
 * Citations of the docs stay true: every `docs/<page>.md §<heading>` in a source or doc (and
 * `<page>.md §<heading>` between docs pages) names a heading of that page — the outside
 * contracts are cited as `docs/contracts.md §<heading>` — and nothing cites the design brief the
 * repository does not hold (`DESIGN §n`) or a `docs/contracts` without its `.md`.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = new URL('..', import.meta.url).pathname;
const SKIP = new Set(['node_modules', 'reports']);
const EXTENSIONS = /\.(ts|mts|mjs|cjs|js|md|sh|ya?ml|env)$/;

// Built from parts, so this file does not cite what it forbids.
const CITATION = new RegExp('(?:docs/)?([A-Za-z0-9_-]+\\.md) ' + '§', 'g');
const FORBIDDEN: { re: RegExp; why: string }[] = [
  { re: new RegExp(['DESIGN', '§'].join(' '), 'g'), why: 'cites the design brief, which the repository does not hold' },
  { re: new RegExp(['DESIGN', 'md'].join('\\.'), 'g'), why: 'names the design brief, which the repository does not hold' },
  { re: new RegExp('docs/' + 'contracts(?!\\.md)', 'g'), why: 'names docs/contracts without .md' },
  { re: new RegExp('contracts\\.md' + ',? "', 'g'), why: 'names a section in quotes: write contracts.md §<heading>' },
  { re: new RegExp('contracts\\.md' + '[:,;] ', 'g'), why: 'names contracts.md without a section: write contracts.md §<heading>' },
];

/** Every file under `root` a citation may sit in (sources, docs, scripts, manifests). */
function files(root: string, dir = root, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.') || SKIP.has(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) files(root, p, out);
    else if (EXTENSIONS.test(e.name)) out.push(p);
  }
  return out;
}

/**
 * The names a heading of a markdown text (any level) can be cited by: as written, and without
 * a trailing parenthesis (`Routing table (router/table/)` is also `Routing table`).
 */
export function headings(markdown: string): string[] {
  return [...markdown.matchAll(/^#{1,6} +(.+?) *#*$/gm)].flatMap((m) => {
    const full = m[1]!.trim();
    const short = full.replace(/ \(.*\)$/, '');
    return short === full ? [full] : [full, short];
  });
}

/** True when `rest` starts with `heading` and the heading ends there (end, space or punctuation). */
function startsWithHeading(rest: string, heading: string): boolean {
  return rest.startsWith(heading) && !/^[\p{L}\p{N}_-]/u.test(rest.slice(heading.length));
}

/** The headings of `docs/<page>` (or of `<page>` at the root), or undefined when there is no such page. */
function pageHeadings(root: string, page: string, cache: Map<string, string[] | undefined>): string[] | undefined {
  if (!cache.has(page)) {
    const path = [join(root, 'docs', page), join(root, page)].find((p) => existsSync(p));
    cache.set(page, path === undefined ? undefined : headings(readFileSync(path, 'utf8')));
  }
  return cache.get(page);
}

/** `file:line: problem` for every bad citation under `root` (headings read from its docs/). */
export function citationProblems(root: string): string[] {
  const cache = new Map<string, string[] | undefined>();
  const self = new URL(import.meta.url).pathname;
  const problems: string[] = [];
  for (const file of files(root)) {
    if (file === self) continue;
    const text = readFileSync(file, 'utf8');
    const where = (at: number) => `${relative(root, file)}:${text.slice(0, at).split('\n').length}`;
    for (const m of text.matchAll(CITATION)) {
      const page = m[1]!;
      const at = (m.index ?? 0) + m[0].length;
      const rest = text.slice(at, at + 200);
      const known = pageHeadings(root, page, cache);
      if (known === undefined) problems.push(`${where(at)}: cites ${page}, which is no page of docs/`);
      else if (!known.some((h) => startsWithHeading(rest, h))) {
        problems.push(`${where(at)}: cites ${page} §${rest.split(/[\n)\]:;,.]/)[0]}, which is no heading of docs/${page}`);
      }
    }
    for (const { re, why } of FORBIDDEN) {
      for (const m of text.matchAll(re)) problems.push(`${where(m.index ?? 0)}: ${why}`);
    }
  }
  return problems;
}

describe('docs: citations of docs pages', () => {
  it('every docs/<page>.md §<heading> in the repository names a heading, and nothing cites the design brief', () => {
    assert.deepEqual(citationProblems(ROOT), []);
  });

  it('reports a heading or page that does not exist, a citation of the brief, a bare docs/contracts and a contracts.md without a section', () => {
    const CITE = 'contracts.md ' + '§';
    const dir = mkdtempSync(join(tmpdir(), 'cellsim-docs-'));
    try {
      mkdirSync(join(dir, 'docs'));
      mkdirSync(join(dir, 'src'));
      writeFileSync(join(dir, 'docs', 'contracts.md'), '# Contracts\n\n## Consul keys\n\n### Ports\n');
      writeFileSync(join(dir, 'docs', 'router.md'), '# Router\n\n## Running without tsx (bin/router-bundle.mjs)\n');
      writeFileSync(
        join(dir, 'src', 'a.ts'),
        [
          `/** The KV layout (docs/${CITE}Consul keys). */`,
          `/** Ports (docs/${CITE}Ports): fine; so is docs/router.md ${'§'}Running without tsx. */`,
          `/** Wrong (docs/${CITE}Consul key layout). */`,
          `/** Gone (${['DESIGN', '§'].join(' ')}4). */`,
          `/** Bare (${'docs/' + 'contracts'} "Local topology"). */`,
          `/** No page (docs/${'nowhere.md §'}Consul keys). */`,
          `/** No section (${'contracts.md'}: \`/admin/faults\`). */`,
        ].join('\n'),
      );
      const got = citationProblems(dir);
      assert.equal(got.length, 5, got.join('\n'));
      assert.match(got[0]!, /^src\/a\.ts:3: cites contracts\.md §Consul key layout, which is no heading/);
      assert.match(got[1]!, /^src\/a\.ts:6: cites nowhere\.md, which is no page of docs\//);
      assert.match(got[2]!, /^src\/a\.ts:4: cites the design brief/);
      assert.match(got[3]!, /^src\/a\.ts:5: names docs\/contracts without \.md/);
      assert.match(got[4]!, /^src\/a\.ts:7: names contracts\.md without a section/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
