#!/usr/bin/env node
// Runs every *.test.ts with Node's own test runner (through tsx), then checks that no
// process started by the run is still alive: a stray process fails the run.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const SKIP = new Set(['node_modules', '.git', 'reports', 'bench', '.cellsim']);

function find(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) find(p, out);
    else if (e.name.endsWith('.test.ts')) out.push(relative(ROOT, p));
  }
  return out;
}

const filters = process.argv.slice(2);
const files = find(ROOT)
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const runId = `run-${process.pid}-${Date.now()}`;
// Files whose verdicts are latency figures of a whole topology under load (the drills) run
// last and alone: sharing the two cores with another test file measures that file, not them.
const SOLO = [
  'loadtest/drills.test.ts',
  'loadtest/soak.test.ts',
  'loadtest/drill-cell-loss.test.ts',
  'loadtest/drills-tls.test.ts',
  'loadtest/drill-kafka.test.ts',
  'loadtest/drill-bad-green.test.ts',
];
const phases = [files.filter((f) => !SOLO.includes(f)), files.filter((f) => SOLO.includes(f))];
let status = 0;
for (const [i, group] of phases.entries()) {
  if (group.length === 0) continue;
  const concurrency = i === 0 ? (process.env.CELLSIM_TEST_CONCURRENCY ?? 2) : 1;
  const res = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=600000', ...group],
    {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, CELLSIM_TEST_RUN: runId, CELLSIM_LOG_LEVEL: process.env.CELLSIM_LOG_LEVEL ?? 'warn' },
    },
  );
  if ((res.status ?? 1) !== 0) status = res.status ?? 1;
}

// Stray check: any process still carrying this run's id in its environment.
const strays = [];
for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8');
    if (env.includes(`CELLSIM_TEST_RUN=${runId}`)) {
      strays.push(`${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 160)}`);
    }
  } catch {
    /* gone or not ours */
  }
}
if (strays.length > 0) {
  console.error(`stray processes left by the test run:\n${strays.join('\n')}`);
  for (const line of strays) {
    try {
      process.kill(Number(line.split(' ')[0]), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  process.exit(1);
}
process.exit(status);
