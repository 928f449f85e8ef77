/**
 * The versions file: which cell versions exist. A version is a real build of the cell (the
 * same code started with `--version <v>`); a drill version also carries a deliberate defect
 * (`--defect <json>` on the cell), e.g. `v2-bad` with 20% errors on POST /v1/orders.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DefectSchema } from '../../shared/defect.js';
import { formatIssues } from '../../shared/kv.js';

const VersionName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'version names match ^[a-z0-9][a-z0-9._-]{0,63}$');

/** One version's entry. */
export const VersionSpecSchema = z.object({ description: z.string().max(300).optional(), defect: DefectSchema.optional() }).strict();
export type VersionSpec = z.infer<typeof VersionSpecSchema>;

/** The whole file: `{"versions": {"v1": {...}, "v2-bad": {"defect": {...}}}}`. */
export const VersionsFileSchema = z
  .object({ versions: z.record(VersionName, VersionSpecSchema).refine((v) => Object.keys(v).length > 0, 'lists no version') })
  .strict();
export type VersionsFile = z.infer<typeof VersionsFileSchema>;

/** The versions every new topology starts with. */
export const DEFAULT_VERSIONS: VersionsFile = {
  versions: {
    v1: { description: 'the first build' },
    v2: { description: 'a good build' },
    v3: { description: 'another good build' },
    'v2-bad': { description: '20% errors on POST /v1/orders', defect: { route: 'POST /v1/orders', errorRate: 0.2 } },
    'v2-broken': { description: '50% errors on every /v1 request', defect: { errorRate: 0.5 } },
    'v2-slow': { description: '+300 ms on GET /v1/orders/:id', defect: { route: 'GET /v1/orders/:id', latencyMs: 300 } },
    'v2-stuck': {
      description: 'a delivery service that fails every order event it consumes (retried, so it stalls); for --role delivery',
      defect: { route: 'delivery', errorRate: 1 },
    },
  },
};

/** Parses a versions file's text; every problem listed with its path. */
export function parseVersions(
  text: string,
  source = 'versions file',
): { ok: true; file: VersionsFile } | { ok: false; problems: string[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, problems: [`${source}: not JSON (${(err as Error).message})`] };
  }
  const parsed = VersionsFileSchema.safeParse(raw);
  return parsed.success
    ? { ok: true, file: parsed.data }
    : { ok: false, problems: formatIssues(parsed.error).map((p) => `${source}: ${p}`) };
}

/** Reads and parses a versions file; throws one message listing every problem. */
export function loadVersions(path: string): VersionsFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read versions file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const r = parseVersions(text, path);
  if (!r.ok) throw new Error(`malformed versions file:\n  ${r.problems.join('\n  ')}`);
  return r.file;
}
