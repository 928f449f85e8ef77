/**
 * Where cellsim finds a component and what doctor says about it, with fake binaries: `locate`
 * (CONSUL_BIN, then PATH at the pinned version, then the cache, then PATH at any version) and
 * infra/install.sh skip or build on the same terms, and doctor's licence, warning and exit.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { locate, pinnedVersions } from './binaries.js';
import { assess, renderDoctor, TOOLS, type DoctorReport } from './doctor.js';
import { probe } from './binaries.js';

const INSTALL = join(dirname(fileURLToPath(import.meta.url)), 'install.sh');
const PINNED = pinnedVersions().consul;

/** Writes an executable fake consul that reports `version`. */
function fakeConsul(dir: string, version: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'consul');
  writeFileSync(path, `#!/bin/sh\necho "Consul v${version}"\necho "Revision 0000"\n`);
  chmodSync(path, 0o755);
  return path;
}

interface Case {
  name: string;
  env?: string;
  path?: string;
  cache?: boolean;
  /** What locate picks, and from where. */
  picks: { source: 'env' | 'path' | 'cache'; version: string } | undefined;
  /** Whether install.sh would build (it finds nothing it may use). */
  builds: boolean;
  ok: boolean;
  license?: string;
  warning?: RegExp;
  error?: RegExp;
}

const CASES: Case[] = [
  { name: 'the cache only', cache: true, picks: { source: 'cache', version: PINNED }, builds: false, ok: true, license: 'MPL-2.0' },
  {
    name: 'the pinned version on PATH, before the cache',
    path: PINNED,
    cache: true,
    picks: { source: 'path', version: PINNED },
    builds: false,
    ok: true,
    license: 'MPL-2.0',
  },
  {
    name: 'the pinned version on PATH, no cache',
    path: PINNED,
    picks: { source: 'path', version: PINNED },
    builds: false,
    ok: true,
    license: 'MPL-2.0',
  },
  {
    name: 'another version on PATH is passed over for the cache',
    path: '1.22.5',
    cache: true,
    picks: { source: 'cache', version: PINNED },
    builds: false,
    ok: true,
    license: 'MPL-2.0',
    warning: /consul on PATH \(.*\) is 1\.22\.5, not the pinned .*; the cached .* is used/,
  },
  {
    name: 'a BSL consul on PATH and no cache: install builds; until then it is found, and refused',
    path: '1.22.5',
    picks: { source: 'path', version: '1.22.5' },
    builds: true,
    ok: false,
    license: 'BUSL-1.1',
    warning: /on PATH is 1\.22\.5, not the pinned/,
    error: /BUSL-1\.1 .*not open source/,
  },
  {
    name: 'CONSUL_BIN wins over everything, whatever its version',
    env: '1.16.2',
    path: PINNED,
    cache: true,
    picks: { source: 'env', version: '1.16.2' },
    builds: false,
    ok: true,
    license: 'MPL-2.0',
    warning: /from CONSUL_BIN is 1\.16\.2, not the pinned/,
  },
  {
    name: 'CONSUL_BIN at a BSL release',
    env: '1.17.0',
    picks: { source: 'env', version: '1.17.0' },
    builds: false,
    ok: false,
    license: 'BUSL-1.1',
    warning: /from CONSUL_BIN is 1\.17\.0/,
    error: /not open source/,
  },
  { name: 'nowhere', picks: undefined, builds: true, ok: false, error: /not found: run 'npm run setup'/ },
];

describe('finding consul: locate, install.sh and doctor agree', () => {
  const saved = { PATH: process.env.PATH, CONSUL_BIN: process.env.CONSUL_BIN, CELLSIM_CACHE: process.env.CELLSIM_CACHE };
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'cellsim-doctor-'));
  });
  after(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    rmSync(root, { recursive: true, force: true });
  });

  CASES.forEach((c, i) => {
    it(c.name, () => {
      const dir = join(root, String(i));
      const cache = join(dir, 'cache');
      const binDir = join(dir, 'bin');
      mkdirSync(binDir, { recursive: true });
      // A `go` that records being called: install.sh reaching for it means it would build.
      writeFileSync(join(binDir, 'go'), `#!/bin/sh\ntouch "${join(dir, 'built')}"\nexit 97\n`);
      chmodSync(join(binDir, 'go'), 0o755);
      if (c.path) fakeConsul(binDir, c.path);
      if (c.cache) {
        const cached = fakeConsul(join(cache, `consul-${PINNED}`), PINNED);
        writeFileSync(join(dirname(cached), 'LICENSE.spdx'), 'MPL-2.0\n');
      }
      const env = {
        PATH: `${binDir}:/usr/bin:/bin`,
        CELLSIM_CACHE: cache,
        ...(c.env ? { CONSUL_BIN: fakeConsul(join(dir, 'env'), c.env) } : {}),
      };
      process.env.PATH = env.PATH;
      process.env.CELLSIM_CACHE = env.CELLSIM_CACHE;
      if (env.CONSUL_BIN) process.env.CONSUL_BIN = env.CONSUL_BIN;
      else delete process.env.CONSUL_BIN;

      const found = locate('consul');
      assert.equal(found?.source, c.picks?.source);
      const status = assess('consul', probe('consul'));
      if (c.picks) assert.equal(status.version, c.picks.version);
      assert.equal(status.ok, c.ok, status.error);
      assert.equal(status.license, c.license);
      if (c.warning) assert.match(status.warning ?? '', c.warning);
      else assert.equal(status.warning, undefined);
      if (c.error) assert.match(status.error ?? '', c.error);
      else assert.equal(status.error, undefined);

      const { CONSUL_BIN: _, ...rest } = process.env;
      const run = spawnSync('bash', [INSTALL, 'consul'], { env: { ...rest, ...env }, encoding: 'utf8', timeout: 30_000 });
      const built = spawnSync('test', ['-e', join(dir, 'built')]).status === 0;
      assert.equal(built, c.builds, `install.sh ${c.builds ? 'should build' : 'should not build'}:\n${run.stdout}${run.stderr}`);
      if (!c.builds) assert.equal(run.status, 0, run.stderr);
      if (c.picks?.source === 'path')
        assert.match(run.stdout + run.stderr, c.builds ? /not the pinned/ : /found on PATH \(the pinned version\)/);
    });
  });
});

describe('renderDoctor', () => {
  const report: DoctorReport = {
    consul: {
      ok: false,
      version: '1.22.5',
      pinned: PINNED,
      license: 'BUSL-1.1',
      path: '/usr/bin/consul',
      source: 'path',
      warning: 'consul on PATH is 1.22.5',
      error: 'consul 1.22.5 is under BUSL-1.1',
    },
    envoy: { ok: true, version: '1.40.0', pinned: '1.40.0', license: 'Apache-2.0', path: '/c/envoy', source: 'cache' },
    vegeta: { ok: false, pinned: '12.13.0', error: "not found: run 'npm run setup' or set VEGETA_BIN" },
    kafka: { ok: true, version: '4.4.0', pinned: '4.4.0', license: 'Apache-2.0', path: '/c/kafka-4.4.0', source: 'cache' },
    node: { ok: true, version: '20.20.2', license: 'MIT', path: '/usr/bin/node', source: 'path' },
    chromium: { ok: true, version: '156.0.8078.129', license: 'BSD-3-Clause', path: '/usr/bin/chromium', source: 'path' },
    'playwright-core': { ok: false, error: "not installed: run 'npm ci'" },
    'k8s.io/client-go': {
      ok: true,
      version: '0.37.2',
      pinned: '0.37.2',
      license: 'Apache-2.0',
      path: '/go/pkg/mod/k8s.io/client-go@v0.37.2',
      source: 'cache',
    },
  };
  it('shows the licence column, then each error and warning on its own line, without colour off a terminal', () => {
    const text = renderDoctor(report, false);
    assert.ok(!text.includes('\u001b['), 'no colour codes');
    assert.match(text, /│ tool +│ ok +│ version +│ licence +│ path \(found through\) +│/);
    assert.match(text, /│ consul +│ NO +│ 1\.22\.5 +│ BUSL-1\.1 +│ \/usr\/bin\/consul \(path\) +│/);
    assert.match(text, /│ envoy +│ yes +│ 1\.40\.0 +│ Apache-2\.0 +│/);
    assert.match(text, /│ vegeta +│ NO +│ - +│ - +│ - +│/);
    assert.match(text, /│ kafka +│ yes +│ 4\.4\.0 +│ Apache-2\.0 +│ \/c\/kafka-4\.4\.0 \(cache\) +│/);
    assert.match(text, /^error: consul: consul 1\.22\.5 is under BUSL-1\.1$/m);
    assert.match(text, /^error: vegeta: not found/m);
    assert.match(text, /│ chromium +│ yes +│ 156\.0\.8078\.129 +│ BSD-3-Clause +│ \/usr\/bin\/chromium \(path\) +│/);
    assert.match(text, /^error: playwright-core: not installed/m);
    assert.match(text, /│ k8s\.io\/client-go +│ yes +│ 0\.37\.2 +│ Apache-2\.0 +│/);
    assert.match(text, /^warning: consul on PATH is 1\.22\.5$/m);
    assert.match(text, /^Not ready: /m);
    assert.deepEqual(Object.keys(report), [...TOOLS]);
  });
});

describe('kafka in doctor', () => {
  it("takes the licence the install wrote into Kafka's directory, and fails one that is not open source", () => {
    const home = mkdtempSync(join(tmpdir(), 'cellsim-doctor-kafka-'));
    try {
      const probed = { ok: true, version: '4.4.0', pinned: '4.4.0', path: home, source: 'cache' as const };
      writeFileSync(join(home, 'LICENSE.spdx'), 'Apache-2.0\n');
      assert.deepEqual(assess('kafka', probed), { ...probed, license: 'Apache-2.0' });
      writeFileSync(join(home, 'LICENSE.spdx'), 'BUSL-1.1\n');
      const bad = assess('kafka', probed);
      assert.equal(bad.ok, false);
      assert.match(bad.error ?? '', /kafka 4\.4\.0 is under BUSL-1\.1/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
