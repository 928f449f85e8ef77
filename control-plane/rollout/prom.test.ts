import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diff, parsePrometheus, sum, trafficOf } from './prom.js';

const scrape = (creates: number, failed: number, reads: number) =>
  trafficOf(
    parsePrometheus(
      [
        `cellsim_http_requests_total{route="POST /v1/orders",method="POST",status="201"} ${creates - failed}`,
        `cellsim_http_requests_total{route="POST /v1/orders",method="POST",status="500"} ${failed}`,
        `cellsim_http_requests_total{route="GET /v1/orders",method="GET",status="200"} ${reads}`,
        `cellsim_http_requests_total{route="/admin/status",method="GET",status="500"} 7`,
      ].join('\n'),
    ),
  );

describe('cell metrics as traffic', () => {
  it('counts user routes per route, and keeps the per-route counts through diff and sum', () => {
    const t = diff(scrape(30, 5, 100), scrape(10, 2, 40));
    assert.equal(t.requests, 20 + 60);
    assert.equal(t.errors, 3);
    assert.deepEqual(t.routes?.get('POST /v1/orders'), { requests: 20, errors: 3 });
    assert.deepEqual(t.routes?.get('GET /v1/orders'), { requests: 60, errors: 0 });
    assert.equal(t.routes?.has('/admin/status'), false, 'admin routes are no user traffic');
    const both = sum([t, t]);
    assert.deepEqual(both.routes?.get('POST /v1/orders'), { requests: 40, errors: 6 });
  });
});
