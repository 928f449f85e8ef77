/** The licence and version rules of `cellctl doctor`, table by table. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isOpenSource, judgeLicense, licenseFileNextTo, licenseOf, versionWarning, type Tool } from './licenses.js';

describe('licenseOf: the licence of a release', () => {
  const cases: [Tool, string | undefined, string | undefined][] = [
    ['consul', '1.16.3', 'MPL-2.0'],
    ['consul', '1.16.6', 'MPL-2.0'],
    ['consul', '1.9.0', 'MPL-2.0'],
    ['consul', '1.16.3-dev', 'MPL-2.0'],
    ['consul', '1.17.0', 'BUSL-1.1'],
    ['consul', '1.22.5', 'BUSL-1.1'],
    ['consul', '2.0.0', 'BUSL-1.1'],
    ['consul', 'weird', undefined],
    ['consul', undefined, undefined],
    ['envoy', '1.40.0', 'Apache-2.0'],
    ['vegeta', '12.13.0', 'MIT'],
    ['node', '20.20.2', 'MIT'],
    ['chromium', '156.0.8078.129', 'BSD-3-Clause'],
    ['playwright-core', '1.65.1', 'Apache-2.0'],
    ['k8s.io/client-go', '0.37.2', 'Apache-2.0'],
  ];
  for (const [tool, version, want] of cases) {
    it(`${tool} ${version ?? '(no version)'} → ${want ?? 'unknown'}`, () => assert.equal(licenseOf(tool, version), want));
  }
});

describe('isOpenSource', () => {
  const cases: [string, boolean][] = [
    ['MPL-2.0', true],
    ['Apache-2.0', true],
    ['MIT', true],
    ['BUSL-1.1', false],
    ['AGPL-3.0-only', false],
    ['', false],
  ];
  for (const [spdx, want] of cases) it(`${spdx || '(empty)'} → ${want}`, () => assert.equal(isOpenSource(spdx), want));
});

describe('judgeLicense: the file next to the binary, else the release; never open source by file when the release is not', () => {
  const cases: { name: string; tool: Tool; version?: string; file?: string; license?: string; fails?: RegExp }[] = [
    { name: 'pinned consul, licence file', tool: 'consul', version: '1.16.3', file: 'MPL-2.0', license: 'MPL-2.0' },
    { name: 'pinned consul, no file', tool: 'consul', version: '1.16.3', license: 'MPL-2.0' },
    {
      name: 'BSL consul on PATH',
      tool: 'consul',
      version: '1.22.5',
      license: 'BUSL-1.1',
      fails: /1\.22\.5 is under BUSL-1\.1 \(the Business Source License\), which is not open source: use the pinned 1\.16\.3/,
    },
    {
      name: 'BSL consul with a file claiming MPL',
      tool: 'consul',
      version: '1.17.0',
      file: 'MPL-2.0',
      license: 'BUSL-1.1',
      fails: /not open source/,
    },
    { name: 'consul of unreadable version', tool: 'consul', version: undefined, fails: /licence unknown/ },
    {
      name: 'file names a licence that is not open source',
      tool: 'vegeta',
      version: '12.13.0',
      file: 'AGPL-3.0-only',
      license: 'AGPL-3.0-only',
      fails: /a licence cellsim does not accept/,
    },
    { name: 'envoy without a file', tool: 'envoy', version: '1.40.0', license: 'Apache-2.0' },
    { name: 'vegeta with its file', tool: 'vegeta', version: '12.13.0', file: 'MIT', license: 'MIT' },
    { name: 'node', tool: 'node', version: '20.20.2', license: 'MIT' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const v = judgeLicense(c.tool, c.version, c.file, c.tool === 'consul' ? '1.16.3' : undefined);
      assert.equal(v.license, c.license);
      if (c.fails) assert.match(v.error ?? '', c.fails);
      else assert.equal(v.error, undefined);
    });
  }
});

describe('versionWarning: PATH and *_BIN binaries that are not the pinned version', () => {
  const cases: { name: string; source: 'env' | 'path' | 'cache'; version?: string; pinned?: string; warns?: RegExp }[] = [
    { name: 'pinned on PATH', source: 'path', version: '1.16.3', pinned: '1.16.3' },
    {
      name: 'other version on PATH',
      source: 'path',
      version: '1.22.5',
      pinned: '1.16.3',
      warns: /consul on PATH is 1\.22\.5, not the pinned 1\.16\.3/,
    },
    {
      name: 'other version through CONSUL_BIN',
      source: 'env',
      version: '1.16.2',
      pinned: '1.16.3',
      warns: /consul from CONSUL_BIN is 1\.16\.2, not the pinned 1\.16\.3/,
    },
    { name: 'pinned through CONSUL_BIN', source: 'env', version: '1.16.3', pinned: '1.16.3' },
    { name: 'prerelease suffix is another version', source: 'path', version: '1.16.3-dev', pinned: '1.16.3', warns: /1\.16\.3-dev/ },
    { name: 'the cache (keyed by the pinned version)', source: 'cache', version: '1.16.3', pinned: '1.16.3' },
    { name: 'version unknown (doctor reports the error instead)', source: 'path', pinned: '1.16.3' },
    { name: 'nothing pinned (node)', source: 'path', version: '20.20.2' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const w = versionWarning('consul', { source: c.source, ...(c.version ? { version: c.version } : {}) }, c.pinned);
      if (c.warns) assert.match(w ?? '', c.warns);
      else assert.equal(w, undefined);
    });
  }
});

describe('licenseFileNextTo', () => {
  it('reads the SPDX id the install wrote beside the binary, and nothing when there is none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cellsim-licence-'));
    try {
      assert.equal(licenseFileNextTo(join(dir, 'consul')), undefined);
      writeFileSync(join(dir, 'LICENSE.spdx'), 'MPL-2.0\n');
      assert.equal(licenseFileNextTo(join(dir, 'consul')), 'MPL-2.0');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
