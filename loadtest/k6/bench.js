// cellsim side-by-side benchmark load (plain JS for k6): one request shape, a fixed arrival
// rate, one target. Run by loadtest/bench/planes.ts once per plane and rate. A 2 s warm-up at
// the same rate opens connections; only the `measure` phase is reported (sub-metrics below).
// -e URL=http://127.0.0.1:p -e REQ_PATH=/v1/orders/<id> -e MARKET=<m> -e RATE=<n> -e DURATION=10s -e PLANE=router
import http from 'k6/http';

const rate = Number(__ENV.RATE || 100);
const vus = { preAllocatedVUs: Math.max(10, Math.ceil(rate / 20)), maxVUs: Math.max(50, rate) };

export const options = {
  discardResponseBodies: true,
  systemTags: ['status', 'method', 'expected_response', 'scenario'],
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'max'],
  scenarios: {
    warm: { executor: 'constant-arrival-rate', rate, timeUnit: '1s', duration: '2s', ...vus, tags: { phase: 'warm' } },
    measure: {
      executor: 'constant-arrival-rate',
      rate,
      timeUnit: '1s',
      duration: __ENV.DURATION || '10s',
      startTime: '2s',
      ...vus,
      tags: { phase: 'measure' },
    },
  },
  // Thresholds that always hold: they make k6 export these sub-metrics in the summary.
  thresholds: {
    'http_req_duration{phase:measure}': ['max>=0'],
    'http_reqs{phase:measure}': ['count>=0'],
    'http_req_failed{phase:measure}': ['rate>=0'],
    dropped_iterations: ['count>=0'],
  },
};

const params = { headers: { 'x-market-id': __ENV.MARKET }, tags: { plane: __ENV.PLANE || 'direct' }, timeout: '5s' };
const url = `${__ENV.URL}${__ENV.REQ_PATH}`;

export default function () {
  http.get(url, params);
}
