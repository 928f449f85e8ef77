import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createLogger } from '../../shared/logger.js';
import { tempDir } from '../testing.js';
import { ContinuousBackup, backupFiles, type BackupInfo } from './backup.js';
import { openDb } from './open.js';

const log = createLogger('test');
log.level = 'silent';

describe('continuous backup of a cell database', () => {
  it('copies a consistent database while writes go on: everything committed before the copy started is in it', async () => {
    const tmp = tempDir();
    try {
      const db = openDb(join(tmp.dir, 'data'));
      // no checkpoint: committed rows stay in the WAL file, which a copy of the main file would miss
      db.pragma('wal_autocheckpoint = 0');
      db.exec('CREATE TABLE t (n INTEGER PRIMARY KEY, pad TEXT)');
      const insert = db.prepare('INSERT INTO t (n, pad) VALUES (?, ?)');
      let n = 0;
      const write = (k: number) =>
        db.transaction(() => {
          for (let i = 0; i < k; i++) insert.run(++n, 'x'.repeat(200));
        })();
      write(20_000);
      // writes keep coming while the copy runs, from the same event loop
      const writer = setInterval(() => write(200), 1);
      const before = n;
      const backup = new ContinuousBackup(db, join(tmp.dir, 'backup'), 1000, log);
      const info = await backup.once();
      clearInterval(writer);
      const copy = new Database(backupFiles(join(tmp.dir, 'backup')).db, { readonly: true });
      assert.equal(copy.pragma('integrity_check', { simple: true }), 'ok');
      const rows = copy.prepare('SELECT COUNT(*) AS c, MAX(n) AS m FROM t').get() as { c: number; m: number };
      assert.ok(rows.c >= before, `${rows.c} rows in the copy, ${before} committed before it started`);
      assert.equal(rows.c, rows.m, 'no gap: a prefix of the committed rows');
      assert.deepEqual(JSON.parse(readFileSync(backupFiles(join(tmp.dir, 'backup')).info, 'utf8')), info);
      copy.close();
      db.close();
    } finally {
      tmp.cleanup();
    }
  });

  it('keeps taking copies every interval, so the recovery point stays within one interval plus one copy', async () => {
    const tmp = tempDir();
    try {
      const db = openDb(join(tmp.dir, 'data'));
      db.exec('CREATE TABLE t (n INTEGER PRIMARY KEY)');
      const backup = new ContinuousBackup(db, join(tmp.dir, 'backup'), 100, log);
      backup.start();
      const seen = new Set<string>();
      const deadline = Date.now() + 5000;
      while (seen.size < 4 && Date.now() < deadline) {
        db.prepare('INSERT INTO t DEFAULT VALUES').run();
        if (backup.last) seen.add(backup.last.startedAt);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(seen.size >= 4, `${seen.size} copies in 5 s`);
      const last = backup.last as BackupInfo;
      assert.ok(Date.now() - Date.parse(last.startedAt) <= last.intervalMs + last.durationMs + 500, 'the recovery point is recent');
      await backup.stop();
      const after = backup.last;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(backup.last, after, 'no copy after stop');
      db.close();
    } finally {
      tmp.cleanup();
    }
  });
});
