// @ts-check
// The lock holder of the `slow-db` fault (slow-db.ts starts it as a worker thread): its own
// connection to the cell's database file takes the write lock (BEGIN IMMEDIATE) for a burst,
// lets it go (COMMIT, nothing written) for a gap, and again, until told to stop. It runs off the
// cell's event loop so that it keeps its rhythm while the cell's writers wait on busy_timeout.
// Plain JavaScript: a worker thread does not inherit the tsx loader of the main thread.
// The control block layout is defined in slow-db.ts (CTL); the values are mirrored here.
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const SIGNAL = 0; // bumped by the main thread on every change (new timing or stop)
const STOP = 1; // 1: commit, close and exit
const HOLD = 2; // ms the lock is held per burst
const JITTER = 3; // + uniform [0, JITTER] ms per burst
const GAP = 4; // ms the lock is free between bursts
const BURSTS = 5; // bursts started so far

/** @type {{ file: string, ctl: SharedArrayBuffer }} */
const { file, ctl: buffer } = workerData;
const ctl = new Int32Array(buffer);
let seen = Atomics.load(ctl, SIGNAL);

/** Sleeps `ms` (blocking this thread only); false when woken early by a change. */
function sleep(ms) {
  const deadline = Date.now() + ms;
  for (let left = ms; left > 0; left = deadline - Date.now()) {
    if (Atomics.wait(ctl, SIGNAL, seen, left) !== 'timed-out') {
      seen = Atomics.load(ctl, SIGNAL);
      return false;
    }
  }
  return true;
}

const db = new Database(file, { timeout: 0, fileMustExist: true });
try {
  while (Atomics.load(ctl, STOP) === 0) {
    try {
      db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      if (/** @type {{ code?: string }} */ (err).code !== 'SQLITE_BUSY') throw err;
      // A cell transaction is in progress (the holder never breaks one): take the lock the
      // moment it ends, not at SQLite's busy-handler backoff, or a busy cell would hardly wait.
      sleep(1);
      continue;
    }
    if (Atomics.add(ctl, BURSTS, 1) === 0) parentPort?.postMessage('holding');
    if (Atomics.load(ctl, STOP) === 0) sleep(Atomics.load(ctl, HOLD) + Math.random() * Atomics.load(ctl, JITTER));
    db.exec('COMMIT');
    if (Atomics.load(ctl, STOP) === 0) sleep(Atomics.load(ctl, GAP));
  }
} finally {
  if (db.inTransaction) db.exec('ROLLBACK');
  db.close();
}
