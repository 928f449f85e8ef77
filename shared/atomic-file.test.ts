/** Atomic file replacement: content from chunks, old file kept on failure, no temp files left. */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeFileAtomic } from './atomic-file.js';

describe('writeFileAtomic', () => {
  it('writes the chunks (sync and async), creates the directory, replaces the old file, leaves no temp file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cellsim-atomic-'));
    try {
      const path = join(dir, 'sub', 'state.json');
      assert.equal(await writeFileAtomic(path, ['{"a":', '1', '}']), 7);
      assert.equal(await readFile(path, 'utf8'), '{"a":1}');
      async function* gen() {
        yield '{"b":';
        yield 'é}';
      }
      assert.equal(await writeFileAtomic(path, gen()), Buffer.byteLength('{"b":é}'));
      assert.equal(await readFile(path, 'utf8'), '{"b":é}');
      assert.deepEqual(await readdir(join(dir, 'sub')), ['state.json']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps the old file and removes the temp file when producing the chunks fails midway', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cellsim-atomic-'));
    try {
      const path = join(dir, 'state.json');
      await writeFile(path, 'old');
      function* failing() {
        yield 'half of the new';
        throw new Error('producer failed');
      }
      await assert.rejects(writeFileAtomic(path, failing()), /producer failed/);
      assert.equal(await readFile(path, 'utf8'), 'old');
      assert.deepEqual(await readdir(dir), ['state.json']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
