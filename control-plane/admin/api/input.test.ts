/** Request input without Consul: the JSON body against a schema, and the cell a path names. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hono } from 'hono';
import { z } from 'zod';
import { HttpError } from '../../../shared/errors.js';
import { cell, fakeDeps } from './fakes.test-helper.js';
import { CellActionBody, DryRun, body, cellOr404 } from './input.js';

/** Runs `body` on a request with `text` as its body; answers the value or the error's status and code. */
async function parse(schema: z.ZodType<unknown>, text: string | undefined): Promise<unknown> {
  const app = new Hono();
  app.post('/', async (c) => {
    try {
      return c.json({ ok: await body(c, schema) });
    } catch (err) {
      const e = err as HttpError;
      return c.json({ status: e.status, code: e.code, message: e.message });
    }
  });
  return (await app.request('/', { method: 'POST', body: text })).json();
}

describe('admin input', () => {
  const Schema = z.object({ name: z.string(), ...DryRun }).strict();

  it('reads an empty or blank body as {}', async () => {
    assert.deepEqual(await parse(CellActionBody, undefined), { ok: {} });
    assert.deepEqual(await parse(CellActionBody, '  \n'), { ok: {} });
  });

  it('parses a body that fits the schema', async () => {
    assert.deepEqual(await parse(Schema, '{"name":"x","dryRun":true}'), { ok: { name: 'x', dryRun: true } });
    assert.deepEqual(await parse(CellActionBody, '{"concurrency":16}'), { ok: { concurrency: 16 } });
  });

  it('answers 400 invalid_json to a body that is not JSON', async () => {
    assert.deepEqual(await parse(Schema, '{"name":'), { status: 400, code: 'invalid_json', message: 'the body is not valid JSON' });
  });

  it('answers 400 invalid_request naming the field for a body off the schema', async () => {
    const missing = (await parse(Schema, '{}')) as { status: number; code: string; message: string };
    assert.equal(missing.status, 400);
    assert.equal(missing.code, 'invalid_request');
    assert.match(missing.message, /name: Required/);
    const extra = (await parse(Schema, '{"name":"x","other":1}')) as { code: string; message: string };
    assert.equal(extra.code, 'invalid_request');
    assert.match(extra.message, /other/);
    const tooMany = (await parse(CellActionBody, '{"concurrency":17}')) as { code: string; message: string };
    assert.equal(tooMany.code, 'invalid_request');
    assert.match(tooMany.message, /concurrency/);
    assert.equal(((await parse(Schema, '{"name":"x","dryRun":"yes"}')) as { code: string }).code, 'invalid_request');
  });

  it('finds a cell, and answers 400 to a malformed cell id and 404 to an unknown one', async () => {
    const f = fakeDeps();
    f.kv.set(f.layout.cellKey('cell-1'), cell('cell-1', { state: 'draining' }));
    const found = await cellOr404(f.deps, 'cell-1');
    assert.deepEqual(found.value, cell('cell-1', { state: 'draining' }));
    assert.equal(found.item.modifyIndex, f.kv.items.get(f.layout.cellKey('cell-1'))?.modifyIndex);
    await assert.rejects(cellOr404(f.deps, 'Cell_1'), (e: HttpError) => {
      assert.equal(e.status, 400);
      assert.equal(e.code, 'invalid_request');
      assert.equal(e.message, "'Cell_1' is not a cell id");
      return true;
    });
    await assert.rejects(cellOr404(f.deps, 'cell-9'), (e: HttpError) => {
      assert.equal(e.status, 404);
      assert.equal(e.code, 'not_found');
      assert.equal(e.message, "unknown cell 'cell-9'");
      return true;
    });
  });
});
