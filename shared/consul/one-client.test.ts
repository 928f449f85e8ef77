/**
 * One Consul client for the whole product: no module outside shared/consul/ speaks Consul's HTTP
 * API itself or loads another Consul client. Outside the rule: the test harness (infra/harness/,
 * the ground, which imports no product code), the two probes that ask only whether the agent's
 * port answers HTTP at all, and a test's proxy that holds Consul answers by their path.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..', '..');
const PARTS = ['bin', 'shared', 'router', 'cells', 'control-plane', 'infra', 'loadtest'];
const OUTSIDE = [/^shared\/consul\//, /^infra\/harness\//];
/** Port probes: any HTTP answer from the agent counts, whatever its status. */
const PROBES = ['topology/wiring.ts', 'loadtest/env/up-env.ts'];
/** A proxy between a router and Consul that holds the answers of one path. */
const PROXIES = ['router/snapshot-complete.test.ts'];

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules') sources(p, out);
    } else if (/\.(ts|mjs)$/.test(e.name)) out.push(p);
  }
  return out;
}

/** The code of a module without its comments (block comments, and lines that are comments). */
function code(file: string): string {
  return readFileSync(join(ROOT, file), 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .split('\n')
    .filter((l) => !/^\s*\/\//.test(l))
    .join('\n');
}

describe('one Consul client', () => {
  const files = PARTS.flatMap((p) => sources(p)).filter((f) => !OUTSIDE.some((re) => re.test(f)));
  const api = /\/v1\/(kv|agent|health|catalog|session|txn|status|acl)\b/;

  it('no module outside shared/consul/ calls Consul’s HTTP API itself', () => {
    const bad = files.filter((f) => ![...PROBES, ...PROXIES].includes(f) && !f.endsWith('one-client.test.ts') && api.test(code(f)));
    assert.deepEqual(bad, []);
  });

  it('no module loads the consul npm client', () => {
    const bad = files.filter((f) => /from\s+['"]consul['"]|require\(\s*['"]consul['"]\s*\)/.test(code(f)));
    assert.deepEqual(bad, []);
  });

  it('the exceptions above still exist and only probe the leader, or only read a path', () => {
    for (const f of PROBES) assert.deepEqual([...new Set(code(f).match(/\/v1\/\w+\/\w+/g))], ['/v1/status/leader'], f);
    for (const f of PROXIES) assert.ok(/req\.url/.test(code(f)) && !/fetch\([^)]*\/v1\//.test(code(f)), f);
  });
});
