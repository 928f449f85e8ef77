import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { tempDir } from '../testing.js';
import { leaseHolder, releaseLease, tryAcquireLease } from './lease.js';
import { MIGRATIONS, migrate, schemaVersion } from './migrations.js';
import { dbFile, openDb } from './open.js';
import { currentSeq, nextSeq } from './stmt.js';

describe('cell database', () => {
  it('opens in WAL mode at the newest schema version; migrating again changes nothing', () => {
    const tmp = tempDir();
    try {
      const db = openDb(tmp.dir);
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(schemaVersion(db), MIGRATIONS[MIGRATIONS.length - 1]!.version);
      assert.equal(migrate(db), schemaVersion(db));
      db.close();
      // A second connection (the other color) on the same file sees the same schema and applies nothing.
      const other = new Database(dbFile(tmp.dir));
      assert.equal(migrate(other), MIGRATIONS[MIGRATIONS.length - 1]!.version);
      other.close();
    } finally {
      tmp.cleanup();
    }
  });

  it('applies only the migrations newer than the file', () => {
    const tmp = tempDir();
    try {
      const db = new Database(dbFile(tmp.dir));
      assert.equal(migrate(db, MIGRATIONS.slice(0, 1)), 1);
      assert.equal((db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'market_holds'").get() as { n: number }).n, 0);
      assert.equal(migrate(db), MIGRATIONS[MIGRATIONS.length - 1]!.version);
      assert.equal((db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'market_holds'").get() as { n: number }).n, 1);
      db.close();
    } finally {
      tmp.cleanup();
    }
  });

  it('the change sequence only grows', () => {
    const tmp = tempDir();
    const db = openDb(tmp.dir);
    try {
      const a = currentSeq(db);
      const b = nextSeq(db);
      const c = nextSeq(db);
      assert.ok(a < b && b < c && currentSeq(db) === c);
    } finally {
      db.close();
      tmp.cleanup();
    }
  });

  it('a lease is held by one holder until it expires or is released', () => {
    const tmp = tempDir();
    const db = openDb(tmp.dir);
    try {
      assert.equal(tryAcquireLease(db, 'bg', 'blue', 1000, 0), true);
      assert.equal(tryAcquireLease(db, 'bg', 'green', 1000, 500), false);
      assert.equal(tryAcquireLease(db, 'bg', 'blue', 1000, 900), true, 'the holder renews');
      assert.equal(tryAcquireLease(db, 'bg', 'green', 1000, 1800), false, 'renewed until 1900');
      assert.equal(tryAcquireLease(db, 'bg', 'green', 1000, 1901), true, 'expired: taken over');
      assert.equal(leaseHolder(db, 'bg', 1901), 'green');
      releaseLease(db, 'bg', 'blue');
      assert.equal(leaseHolder(db, 'bg', 1901), 'green', 'only the holder can release');
      releaseLease(db, 'bg', 'green');
      assert.equal(tryAcquireLease(db, 'bg', 'blue', 1000, 1902), true);
    } finally {
      db.close();
      tmp.cleanup();
    }
  });
});
