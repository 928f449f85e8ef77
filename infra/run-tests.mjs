#!/usr/bin/env node
// Runs every *.test.ts with Node's own test runner (through tsx), then checks that no
// process started by the run is still alive: a stray process fails the run.
import { spawn } from 'node:child_process';
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
// The cell-loss drill (30/s, verdicts on orders and a recovery point) shares the first phase. The
// Kafka drills (12 and 8 requests/s) ran there too until a CI rehearsal (2026-12-07) saw
// kafka-broker-down fail on 2 cell_unavailable answers of the unfaulted cell-0, every cell's p99
// 274-368 ms before the fault (20-90 ms in five earlier rehearsals), beside a chunk running two
// other real brokers: its spill and failed-requests verdicts are 0-tolerance, so it runs alone.
// up-kafka (two brokers, order and delivery instances, delivery rollouts and a second up) runs
// alone too: beside another file it took 417 s against 210 s alone, so sharing saved no time, and
// the files beside it missed their timing targets (a CI rehearsal, 2026-12-07).
// The multi-host test (network namespaces, a 3-server Raft Consul, drills judged on failed
// requests and catch-up times) runs alone too: beside the first phase's chunks a CI rehearsal
// (2026-12-07) saw consul-leader-loss fail one request (market_frozen) and edge-consul-partition
// six (cell_unavailable); alone right after, 13 of 13 in 212 s.
const SOLO = [
  'topology/hosts/multi-host.test.ts',
  'loadtest/drills.test.ts',
  'loadtest/soak.test.ts',
  'loadtest/drills-tls.test.ts',
  'loadtest/drill-bad-green.test.ts',
  'topology/up-kafka.test.ts',
  'loadtest/drill-kafka.test.ts',
];
// The first phase runs in two lanes side by side. One lane runs the files that each start a whole
// topology (`cellctl up`, or a browser against one), one after another, the longest first (a CI
// run's figures, in seconds); the other runs the remaining files in chunks. So no two whole
// topologies ever share the two cores: when they did (two long files at once), a CI rehearsal
// (2026-12-07, load average 9) saw cell-lifecycle's move answer 409 market_frozen twice and
// rollout-steps' weighted steps judge 0 requests, each passing alone. Node's runner sorts the files
// it is given by path, so each long file is a unit (one `node --test` of its own) and the other
// files are run in chunks. The two lanes' sums are about equal (~900 s each).
const LONGEST_FIRST = [
  'topology/operators.test.ts', // ~205
  'topology/up-tls-hosts.test.ts', // ~135; network namespaces too (multi-host, the other, runs in the solo phase)
  'topology/cell-lifecycle.test.ts', // ~100
  'control-plane/ui/browser.test.ts', // ~90
  'loadtest/drill-cell-loss.test.ts', // ~80
  'topology/external-faults.test.ts', // ~60
  'control-plane/ui/scale.test.ts', // ~55
  'control-plane/ui/actions.browser.test.ts', // ~55
  'control-plane/xds/isolation.test.ts', // ~50
  'topology/rollout-steps.test.ts', // ~45
  'topology/up-tls.test.ts', // ~30
  'topology/cell-loss.test.ts', // ~30
  'topology/sds-rotation.test.ts', // ~20; judged on every request of a load across a rotation
];
const CHUNKS = 8;
const shared = files.filter((f) => !SOLO.includes(f));
const rest = shared.filter((f) => !LONGEST_FIRST.includes(f));
const topologies = LONGEST_FIRST.filter((f) => shared.includes(f)).map((f) => [f]);
const chunks = Array.from({ length: CHUNKS }, (_, i) => rest.filter((_, j) => j % CHUNKS === i)).filter((c) => c.length > 0);
const lanes = Number(process.env.CELLSIM_TEST_CONCURRENCY ?? 2);
const env = { ...process.env, CELLSIM_TEST_RUN: runId, CELLSIM_LOG_LEVEL: process.env.CELLSIM_LOG_LEVEL ?? 'warn' };
const nodeTest = (group) => ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=600000', ...group];

/** What failed, printed again at the very end: CI keeps only the tail of a run's output. */
const failures = [];
/** The "not ok" lines of a unit's TAP output (indented by a subtest's depth), each with its error line. */
function failedTests(tap) {
  const lines = tap.split('\n');
  const named = [];
  lines.forEach((l, i) => {
    if (!/^\s*not ok \d+/.test(l)) return;
    named.push(`  ${l}`);
    const at = lines.slice(i + 1, i + 12).findIndex((x) => /^\s*error:/.test(x));
    if (at < 0) return;
    const error = lines[i + 1 + at].trim();
    if (!error.endsWith('|-') && !error.endsWith('|')) {
      named.push(`    ${error.slice(0, 300)}`);
      return;
    }
    // A multi-line YAML message (`error: |-`) carries its lines below, indented deeper than `error:`
    // (a failed start's message ends with the process's last output: its first line and last 7 kept).
    const indent = lines[i + 1 + at].search(/\S/);
    const body = [];
    for (const l of lines.slice(i + 2 + at)) {
      if (l.trim() !== '' && l.search(/\S/) <= indent) break;
      if (l.trim() !== '') body.push(l.trim().slice(0, 300));
    }
    named.push(
      `    error: ${body[0] ?? ''}`,
      ...body
        .slice(1)
        .slice(-7)
        .map((l) => `      ${l}`),
    );
  });
  return named.length > 0 ? named.join('\n') : '  (no failing test named: a crash or a timeout of the file)';
}

/** One unit's output, held until it ends and printed whole, so that two units never interleave. */
function runUnit(group) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, nodeTest(group), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => err.push(b));
    child.on('close', (code, signal) => {
      const secs = Math.round((Date.now() - started) / 1000);
      process.stdout.write(
        `# ===== ${group.length === 1 ? group[0] : `${group.length} files`}: exit ${code ?? signal} after ${secs} s =====\n`,
      );
      const text = Buffer.concat(out);
      process.stdout.write(text);
      process.stderr.write(Buffer.concat(err));
      if (code !== 0) failures.push(`${group.join(' ')}: exit ${code ?? signal}\n${failedTests(text.toString())}`);
      resolve(code ?? 1);
    });
  });
}

let status = 0;
/** Runs `units` one after another. */
async function lane(units) {
  for (const u of units) {
    const code = await runUnit(u);
    if (code !== 0) status = code;
  }
}
// CELLSIM_TEST_CONCURRENCY=1: one lane, every unit in turn.
await (lanes > 1 ? Promise.all([lane(topologies), lane(chunks)]) : lane([...topologies, ...chunks]));
// The solo phase streams: one file after another, nothing beside it. Its output is kept too, so
// that its failing tests are named again at the end (CI keeps only the tail of a run's output).
const solo = files.filter((f) => SOLO.includes(f));
if (solo.length > 0) {
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, nodeTest(solo), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
    const out = [];
    child.stdout.on('data', (b) => {
      out.push(b);
      process.stdout.write(b);
    });
    child.on('close', (c, signal) => {
      if (c !== 0) failures.push(`${solo.join(' ')}: exit ${c ?? signal}\n${failedTests(Buffer.concat(out).toString())}`);
      resolve(c ?? 1);
    });
  });
  if (code !== 0) status = code;
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
for (const f of failures) console.log(`# FAILED ${f}`);
if (strays.length > 0) {
  console.log(`# FAILED stray processes left by the test run:\n${strays.join('\n')}`);
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
