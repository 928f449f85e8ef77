import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diff, parsePrometheus, quantileMs, sum, trafficOf } from './prom.js';

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

  it("reads one market's requests from the share metrics when asked for a market, and nothing else", () => {
    const text = [
      `cellsim_http_requests_total{route="POST /v1/orders",method="POST",status="201"} 500`,
      `cellsim_share_requests_total{market="phoenix",route="POST /v1/orders",method="POST",status="201"} 40`,
      `cellsim_share_requests_total{market="phoenix",route="GET /v1/orders/:id",method="GET",status="503"} 4`,
      `cellsim_share_requests_total{market="boise",route="POST /v1/orders",method="POST",status="500"} 9`,
      `cellsim_share_request_duration_seconds_bucket{market="phoenix",route="POST /v1/orders",method="POST",le="0.01"} 43`,
      `cellsim_share_request_duration_seconds_bucket{market="phoenix",route="POST /v1/orders",method="POST",le="+Inf"} 44`,
      `cellsim_share_request_duration_seconds_bucket{market="boise",route="POST /v1/orders",method="POST",le="+Inf"} 9`,
    ].join('\n');
    const t = trafficOf(parsePrometheus(text), { market: 'phoenix' });
    assert.equal(t.requests, 44);
    assert.equal(t.errors, 4);
    assert.deepEqual(t.routes?.get('GET /v1/orders/:id'), { requests: 4, errors: 4 });
    assert.equal(quantileMs(t, 0.5), 10);
    assert.equal(trafficOf(parsePrometheus(text)).requests, 500, 'without a market, the cell-wide counters as before');
  });
});
