/**
 * `cellctl doctor`: is every real component installed, which version and licence, where.
 * Exit 1 when one is missing, does not run, or is not open source; warnings (a binary that is
 * not the pinned version) do not change the exit code.
 */
import { Command } from 'commander';
import Table from 'cli-table3';
import { probe, type ToolStatus } from './binaries.js';
import { probeChromium, probePlaywright } from './browser.js';
import { probeKafka } from './kafka-dist.js';
import { probeClientGo } from './k8s-validate.js';
import { judgeLicense, licenseFileIn, licenseFileNextTo, versionWarning, type Tool } from './licenses.js';

/** The tools doctor checks, in the order it shows them. */
export const TOOLS = [
  'consul',
  'envoy',
  'vegeta',
  'kafka',
  'node',
  'chromium',
  'playwright-core',
  'k8s.io/client-go',
] as const satisfies readonly Tool[];

/** The report: one status per tool. */
export type DoctorReport = Record<(typeof TOOLS)[number], ToolStatus>;

/**
 * Adds the licence verdict and the version warning to a probed tool: `license` from the
 * install's LICENSE.spdx or the release, `ok` false with an error when it is not open source,
 * `warning` when a PATH or *_BIN binary is not the pinned version (or one on PATH was passed over).
 */
export function assess(tool: Tool, probed: ToolStatus & { passedOver?: { path: string; version?: string } }): ToolStatus {
  const { passedOver, ...status } = probed;
  const warnings: string[] = [];
  const mismatch = versionWarning(tool, status, status.pinned);
  if (mismatch) warnings.push(mismatch);
  if (passedOver && passedOver.version !== status.pinned) {
    warnings.push(
      `${tool} on PATH (${passedOver.path}) is ${passedOver.version ?? 'of unknown version'}, not the pinned ${status.pinned}; the cached ${status.pinned} is used`,
    );
  }
  let license: string | undefined;
  let { ok, error } = status;
  if (ok && status.path !== undefined) {
    const file =
      tool === 'node' || tool === 'chromium' || tool === 'playwright-core' || tool === 'k8s.io/client-go'
        ? undefined
        : tool === 'kafka'
          ? licenseFileIn(status.path)
          : licenseFileNextTo(status.path);
    const verdict = judgeLicense(tool, status.version, file, status.pinned);
    license = verdict.license;
    if (verdict.error !== undefined) [ok, error] = [false, verdict.error];
  }
  // Fixed key order, so the JSON reads the same for every tool.
  return strip({
    ok,
    version: status.version,
    pinned: status.pinned,
    license,
    path: status.path,
    source: status.source,
    warning: warnings.join('; ') || undefined,
    error,
  });
}

function strip(s: { [K in keyof ToolStatus]: ToolStatus[K] | undefined }): ToolStatus {
  return Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined)) as unknown as ToolStatus;
}

/** Probes and assesses every tool. */
export function diagnose(): DoctorReport {
  const report = {} as DoctorReport;
  const probes: Partial<Record<Tool, () => ToolStatus>> = {
    kafka: probeKafka,
    chromium: probeChromium,
    'playwright-core': probePlaywright,
    'k8s.io/client-go': probeClientGo,
  };
  for (const t of TOOLS) report[t] = assess(t, (probes[t] ?? (() => probe(t as Parameters<typeof probe>[0])))());
  return report;
}

/** The report as a table, then one line per error and per warning. Colour only on a terminal. */
export function renderDoctor(report: DoctorReport, color = process.stdout.isTTY === true): string {
  const table = new Table({
    head: ['tool', 'ok', 'version', 'licence', 'path (found through)'],
    ...(color ? {} : { style: { head: [], border: [] } }),
  });
  for (const t of TOOLS) {
    const s = report[t];
    table.push([t, s.ok ? 'yes' : 'NO', s.version ?? '-', s.license ?? '-', s.path ? `${s.path} (${s.source})` : '-']);
  }
  const lines = [table.toString()];
  for (const t of TOOLS) if (report[t].error) lines.push(`error: ${t}: ${report[t].error}`);
  for (const t of TOOLS) if (report[t].warning) lines.push(`warning: ${report[t].warning}`);
  if (!TOOLS.every((t) => report[t].ok)) lines.push("Not ready: fix the errors above ('npm run setup' installs the pinned components).");
  return `${lines.join('\n')}\n`;
}

/** The `doctor` command module. */
export function command(): Command {
  return new Command('doctor')
    .description(
      "check that consul, envoy, vegeta, kafka (with java), node, chromium and playwright-core (the console's browser tests) and k8s.io/client-go (the manifest validator's Go modules) are installed and open source; exit 1 if any is missing or not",
    )
    .option('--json', 'print a JSON object (version, licence, path, warning per tool) instead of a table')
    .action((opts: { json?: boolean }) => {
      const report = diagnose();
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderDoctor(report));
      if (!TOOLS.every((t) => report[t].ok)) process.exitCode = 1;
    });
}
