// k6 load for `npm run bench:router`: GET /v1/orders with an x-market-id header, either at a
// constant arrival rate (open model, MODE=rate) or from a fixed number of VUs (MODE=max).
import http from 'k6/http';
import { check } from 'k6';

const MODE = __ENV.MODE || 'rate';
const MARKETS = Number(__ENV.MARKETS || 0);
const EXPECT = Number(__ENV.EXPECT || 200);

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ['med', 'p(99)', 'max'],
  scenarios:
    MODE === 'max'
      ? { max: { executor: 'constant-vus', vus: Number(__ENV.VUS || 32), duration: __ENV.DURATION || '8s' } }
      : {
          rate: {
            executor: 'constant-arrival-rate',
            rate: Number(__ENV.RATE || 1000),
            timeUnit: '1s',
            duration: __ENV.DURATION || '8s',
            preAllocatedVUs: Number(__ENV.VUS || 64),
            maxVUs: 512,
          },
        },
};

export default function () {
  const market = MARKETS > 0 ? `m-${Math.floor(Math.random() * MARKETS)}` : __ENV.MARKET || 'm-0';
  const res = http.get(`${__ENV.URL}/v1/orders`, { headers: { 'x-market-id': market } });
  check(res, { status: (r) => r.status === EXPECT });
}
