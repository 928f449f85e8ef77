/**
 * The licence rules `cellctl doctor` applies to each component: which SPDX licence a binary is
 * under, whether that licence is open source, and whether a binary found outside the cache is
 * the pinned version. Pure functions over what `binaries.ts` found, so they are tested by table.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Component } from './binaries.js';

/** A tool doctor checks: the real components, the Kafka broker's jars and node itself. */
export type Tool = Component | 'kafka' | 'node' | 'chromium' | 'playwright-core' | 'k8s.io/client-go';

/** Open-source licences (OSI approved) a component may be under. Anything else fails doctor. */
const OPEN_SOURCE = new Set(['MPL-2.0', 'Apache-2.0', 'MIT', 'BSD-2-Clause', 'BSD-3-Clause', 'ISC']);

/** Names of the licences doctor may meet that are not open source, for its error line. */
const NOT_OPEN_SOURCE_NAMES: Record<string, string> = { 'BUSL-1.1': 'the Business Source License' };

/** Consul's first release under the Business Source License (HashiCorp, August 2023). */
const CONSUL_BUSL_FROM: readonly [number, number, number] = [1, 17, 0];

/** Whether an SPDX id is one of the open-source licences cellsim accepts. */
export function isOpenSource(spdx: string): boolean {
  return OPEN_SOURCE.has(spdx);
}

function semver(version: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function atLeast(v: readonly [number, number, number], min: readonly [number, number, number]): boolean {
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i]! > min[i]!;
  return true;
}

/**
 * The licence a tool's release is under, from the tool and its version alone: Consul before
 * 1.17 MPL-2.0, from 1.17 on BUSL-1.1; Envoy and Kafka Apache-2.0; vegeta and node MIT. Undefined when
 * the version cannot be read (a Consul whose version is unknown has no known licence).
 */
export function licenseOf(tool: Tool, version: string | undefined): string | undefined {
  switch (tool) {
    case 'consul': {
      const v = version === undefined ? undefined : semver(version);
      if (!v) return undefined;
      return atLeast(v, CONSUL_BUSL_FROM) ? 'BUSL-1.1' : 'MPL-2.0';
    }
    case 'envoy':
    case 'kafka':
    case 'playwright-core':
    case 'k8s.io/client-go':
      return 'Apache-2.0';
    case 'chromium':
      return 'BSD-3-Clause';
    case 'vegeta':
    case 'node':
      return 'MIT';
  }
}

/** The SPDX id infra/install.sh wrote next to a binary (`LICENSE.spdx`), when there is one. */
export function licenseFileNextTo(binary: string): string | undefined {
  try {
    const text = readFileSync(join(dirname(binary), 'LICENSE.spdx'), 'utf8').trim();
    return text.length > 0 ? text : undefined;
  } catch {
    return undefined;
  }
}

/** The SPDX id infra/install.sh wrote inside a distribution directory (Kafka's), when there is one. */
export function licenseFileIn(dir: string): string | undefined {
  return licenseFileNextTo(join(dir, 'libs'));
}

/** What doctor concludes about one tool's licence. */
export interface LicenseVerdict {
  /** SPDX id, or undefined when neither a licence file nor the version tells it. */
  license?: string;
  /** Why the tool may not be used; undefined when its licence is open source. */
  error?: string;
}

/**
 * Decides a tool's licence: the `LICENSE.spdx` written by the install when present, else the
 * licence of its release ({@link licenseOf}). A release known not to be open source (Consul
 * >= 1.17) is never overridden by a file. Fails unless the licence is open source.
 */
export function judgeLicense(tool: Tool, version: string | undefined, fromFile: string | undefined, pinned?: string): LicenseVerdict {
  const byRelease = licenseOf(tool, version);
  const license = byRelease !== undefined && !isOpenSource(byRelease) ? byRelease : (fromFile ?? byRelease);
  if (license === undefined) {
    return { error: `${tool}: licence unknown (version ${version ?? 'unreadable'}); cellsim uses only open-source components` };
  }
  if (isOpenSource(license)) return { license };
  const name = NOT_OPEN_SOURCE_NAMES[license] ?? 'a licence cellsim does not accept';
  const fix = pinned ? `: use the pinned ${pinned} ('npm run setup') or set ${tool.toUpperCase()}_BIN to an open-source build` : '';
  const what = version === undefined ? tool : `${tool} ${version}`;
  return { license, error: `${what} is under ${license} (${name}), which is not open source${fix}` };
}

/**
 * A warning when a binary taken from PATH or `<NAME>_BIN` is not the pinned version (the
 * cache is keyed by the pinned version, so it needs none); undefined otherwise.
 */
export function versionWarning(
  tool: Tool,
  found: { version?: string; source?: 'env' | 'path' | 'cache' },
  pinned: string | undefined,
): string | undefined {
  if (pinned === undefined || found.version === undefined || found.version === pinned) return undefined;
  if (found.source === 'env')
    return `${tool} from ${tool.toUpperCase()}_BIN is ${found.version}, not the pinned ${pinned} (infra/versions.env)`;
  if (found.source === 'path')
    return `${tool} on PATH is ${found.version}, not the pinned ${pinned} (infra/versions.env); run 'npm run setup' to install the pinned one`;
  return undefined;
}
