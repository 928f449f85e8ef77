/** Live traffic per plane: router and Envoy counters turned into rate, 5xx share and p99 between two scrapes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlaneScraper } from './rates.js';

const routerText = (ok: number, bad: number, fast: number) => `# HELP cellsim_router_requests_total x
cellsim_router_requests_total{cell="cell-1",status="200"} ${ok}
cellsim_router_requests_total{cell="cell-2",status="503"} ${bad}
cellsim_router_request_duration_seconds_bucket{cell="cell-1",le="0.005"} ${fast}
cellsim_router_request_duration_seconds_bucket{cell="cell-1",le="0.1"} ${ok + bad}
cellsim_router_request_duration_seconds_bucket{cell="cell-1",le="+Inf"} ${ok + bad}
`;

const envoyText = (
  ok: number,
  bad: number,
) => `envoy_http_downstream_rq_xx{envoy_response_code_class="2",envoy_http_conn_manager_prefix="edge"} ${ok}
envoy_http_downstream_rq_xx{envoy_response_code_class="5",envoy_http_conn_manager_prefix="edge"} ${bad}
envoy_http_downstream_rq_xx{envoy_response_code_class="2",envoy_http_conn_manager_prefix="admin"} 999
envoy_http_downstream_rq_time_bucket{envoy_http_conn_manager_prefix="edge",le="25"} ${ok + bad}
envoy_http_downstream_rq_time_bucket{envoy_http_conn_manager_prefix="edge",le="+Inf"} ${ok + bad}
envoy_cluster_upstream_rq_total{envoy_cluster_name="cell_cell-1"} ${ok - bad}
envoy_cluster_upstream_rq_total{envoy_cluster_name="cell_cell-1_green"} ${bad}
envoy_cluster_upstream_rq_total{envoy_cluster_name="cell_cell-1_shift_blue"} ${bad}
`;

describe('console traffic per plane', () => {
  it('turns two router scrapes into req/s, 5xx % and p99, summed over routers, with per-cell rates', async () => {
    const texts = new Map([
      ['a', routerText(100, 0, 100)],
      ['b', routerText(0, 0, 0)],
    ]);
    const s = new PlaneScraper('router', async (u) => texts.get(u)!);
    const first = await s.sample(['a', 'b'], 1000);
    assert.equal(first.last, undefined, 'one scrape is no rate');
    texts.set('a', routerText(280, 20, 100)); // 200 more: 180 ok, 20 errors, all slower than 5 ms
    texts.set('b', routerText(100, 0, 100));
    const second = await s.sample(['a', 'b', 'down'], 3000);
    assert.equal(second.answered, 2);
    assert.equal(second.targets, 3);
    assert.equal(second.last?.rps, 150); // 300 requests in 2 s
    assert.equal(second.last?.errorPct.toFixed(2), '6.67');
    assert.equal(second.last?.p99Ms, 100);
    assert.deepEqual(second.byCell, { 'cell-1': 140, 'cell-2': 10 });
    assert.equal(second.series.length, 1);
  });

  it("reads the Envoy edge listener's counters (not the admin listener's) and each cell's clusters (an experiment's one-color cluster and a shift's counted to its cell), and skips a restarted instance", async () => {
    let text = envoyText(10, 0);
    const s = new PlaneScraper('envoy', async () => text);
    await s.sample(['e'], 0);
    text = envoyText(50, 10);
    const r = await s.sample(['e'], 1000);
    assert.equal(r.last?.rps, 50);
    assert.equal(r.last?.errorPct, 20);
    assert.equal(r.last?.p99Ms, 25);
    assert.deepEqual(r.byCell, { 'cell-1': 50 });
    text = envoyText(1, 0); // restarted: counters went back
    const after = await s.sample(['e'], 2000);
    assert.equal(after.series.length, 1, 'no point from a restart');
  });
});
