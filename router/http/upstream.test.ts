/** The request body test and the two ways the cell's answer goes back, without a cell. */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { PassThrough, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { upstream } from './fakes.test-helper.js';
import { hasBody, one, toResponse, writeNode } from './upstream.js';

/** Enough of node's ServerResponse for writeNode: writeHead and a writable body. */
class FakeOutgoing extends Writable {
  head: [number, unknown] | undefined;
  chunks: Buffer[] = [];
  writeHead(status: number, headers: unknown): this {
    this.head = [status, headers];
    return this;
  }
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.chunks.push(chunk);
    cb();
  }
}

const finished = (w: Writable) => new Promise((r) => w.once('close', r));

describe('router upstream', () => {
  it('sees a body in a chunked or positive content-length request, never in GET or HEAD', () => {
    assert.equal(hasBody('POST', { 'content-length': '11' }), true);
    assert.equal(hasBody('PUT', { 'transfer-encoding': 'chunked' }), true);
    assert.equal(hasBody('POST', {}), false);
    assert.equal(hasBody('POST', { 'content-length': '0' }), false);
    assert.equal(hasBody('POST', { 'content-length': 'x' }), false);
    assert.equal(hasBody('GET', { 'content-length': '5' }), false);
    assert.equal(hasBody('HEAD', { 'transfer-encoding': 'chunked' }), false);
  });

  it('joins a repeated header', () => {
    assert.equal(one(['a', 'b']), 'a, b');
    assert.equal(one('a'), 'a');
    assert.equal(one(undefined), undefined);
  });

  it('turns the answer into a web Response with its status, headers and body', async () => {
    const res = toResponse(upstream(201, 'made', { 'x-cell-id': 'c1', 'set-cookie': ['a=1', 'b=2'] }));
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-cell-id'), 'c1');
    assert.deepEqual(res.headers.getSetCookie(), ['a=1', 'b=2']);
    assert.equal(await res.text(), 'made');
    const empty = toResponse(upstream(204, null));
    assert.equal(empty.status, 204);
    assert.equal(empty.body, null);
  });

  it("streams the answer into node's response, or ends it when there is no body", async () => {
    const out = new FakeOutgoing();
    const done = finished(out);
    assert.equal(writeNode(upstream(200, 'hello', { 'x-cell-id': 'c1' }), out as unknown as ServerResponse), RESPONSE_ALREADY_SENT);
    await done;
    assert.deepEqual(out.head, [200, { 'x-cell-id': 'c1' }]);
    assert.equal(Buffer.concat(out.chunks).toString(), 'hello');
    const bare = new FakeOutgoing();
    const bareDone = finished(bare);
    writeNode(upstream(304, null), bare as unknown as ServerResponse);
    await bareDone;
    assert.deepEqual([bare.head?.[0], bare.chunks.length, bare.writableFinished], [304, 0, true]);
  });

  it('destroys the cell body when the client goes before the end', async () => {
    const out = new FakeOutgoing();
    const up = upstream(200, null);
    const body = new PassThrough();
    up.body = body;
    writeNode(up, out as unknown as ServerResponse);
    body.write('part');
    out.destroy();
    await new Promise((r) => body.once('close', r));
    assert.equal(body.destroyed, true);
  });
});
