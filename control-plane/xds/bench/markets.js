// k6 script of the xDS benchmark: requests through Envoy, each naming a random market of
// m-0..m-(MARKETS-1). Closed model: VUS virtual users for DURATION (a capped throughput run).
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: {
    load: { executor: 'constant-vus', vus: Number(__ENV.VUS || 8), duration: __ENV.DURATION || '5s' },
  },
  summaryTrendStats: ['med', 'p(99)', 'max'],
};

const markets = Number(__ENV.MARKETS || 10);

export default function () {
  const m = `m-${Math.floor(Math.random() * markets)}`;
  const res = http.get(`${__ENV.URL}/v1/orders`, { headers: { 'x-market-id': m } });
  check(res, { routed: (r) => r.status === 200 });
}
