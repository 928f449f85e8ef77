// cellsim traffic model for k6 (plain JS, run by `cellctl drill` through loadtest/k6-run.ts).
//
// Open model: a constant or ramping arrival rate, independent of how fast the system answers.
// Every iteration picks a market (weighted, uneven like real markets), a plane replica (round
// robin over the chosen planes' replicas, as a load balancer would, skipping a replica that
// refused connections a moment ago) and one operation of a realistic mix: create an order with
// an Idempotency-Key and read it back, read a known order, list the market's orders, cancel one.
//
// Every request is recorded in two custom metrics with the same tags:
//   cellsim_req    (Trend, ms)  how long the client waited for the answer
//   cellsim_failed (Rate)       1 when the answer was not what the operation expects
//                              (thresholds on its tagged sub-metrics gate each drill)
// tags: market, owner (expected cell), cell (x-cell-id of the answer, else the owner), plane,
// replica, op, status, code (JSON error code, k6 error code, or "none"), scope (faulted|other),
// attempt (first|failover|retry), ok (true|false). The analysis reads these points from k6's --out json file.
//
// Configuration: -e CONFIG=<absolute path to a JSON file written by loadtest/plan.ts>.
import http from 'k6/http';
import { sleep } from 'k6';
import { Rate, Trend, Counter } from 'k6/metrics';

const cfg = JSON.parse(open(__ENV.CONFIG));

const reqTrend = new Trend('cellsim_req', true);
const failedRate = new Rate('cellsim_failed');
const failovers = new Counter('cellsim_failovers');

function scenario() {
  const base = {
    preAllocatedVUs: cfg.preAllocatedVUs || 20,
    maxVUs: cfg.maxVUs || 200,
    timeUnit: '1s',
    gracefulStop: cfg.gracefulStop || '5s',
  };
  if (cfg.stages && cfg.stages.length > 0) {
    return Object.assign(base, { executor: 'ramping-arrival-rate', startRate: cfg.startRate || cfg.rate, stages: cfg.stages });
  }
  return Object.assign(base, { executor: 'constant-arrival-rate', rate: cfg.rate, duration: cfg.duration });
}

export const options = {
  scenarios: { traffic: scenario() },
  thresholds: cfg.thresholds || {},
  systemTags: ['status', 'method', 'name', 'scenario', 'error_code', 'expected_response'],
  summaryTrendStats: ['avg', 'min', 'med', 'p(95)', 'p(99)', 'max'],
  noConnectionReuse: false,
  insecureSkipTLSVerify: false,
  discardResponseBodies: false,
};

// Cumulative market weights, computed once per VU.
const markets = cfg.markets;
const cumulative = [];
let total = 0;
for (const m of markets) {
  total += m.weight;
  cumulative.push(total);
}
const mix = cfg.mix;
const mixOps = Object.keys(mix);
const mixCum = [];
let mixTotal = 0;
for (const op of mixOps) {
  mixTotal += mix[op];
  mixCum.push(mixTotal);
}

// Per-VU state: known orders per market, replicas that refused connections recently.
const known = {};
const downUntil = {};
let rr = 0;

function pick(cum, sum) {
  const x = Math.random() * sum;
  for (let i = 0; i < cum.length; i++) if (x < cum[i]) return i;
  return cum.length - 1;
}

// A `direct` target (benchmark, tests) is one cell's own address: only its markets go there.
function pickTarget(market, plane, exclude) {
  const now = Date.now();
  const all = cfg.targets.filter((t) => (plane ? t.plane === plane : true) && t.replica !== exclude && (!t.cell || t.cell === market.cell));
  const up = all.filter((t) => !(downUntil[t.replica] > now));
  const pool = up.length > 0 ? up : all;
  if (pool.length === 0) return undefined;
  rr = (rr + 1) % 1000000;
  return pool[(rr + __VU) % pool.length];
}

function errorCode(res) {
  if (res.status === 0) return `k6_${res.error_code || 0}`;
  if (res.status < 400) return 'none';
  try {
    const body = JSON.parse(res.body);
    if (body && body.error && typeof body.error.code === 'string') return body.error.code;
  } catch (_) {
    /* not JSON */
  }
  return `http_${res.status}`;
}

const EXPECTED = {
  create: [200, 201],
  read: [200],
  get: [200],
  list: [200],
  cancel: [200, 409],
};

// k6 error codes of a connection that was refused or never opened: nothing was sent, so a load
// balancer would send the request to another replica.
const NOT_SENT = { 1210: true, 1211: true, 1212: true, 1200: true, 1201: true, 1202: true };

function send(t, market, op, method, path, body, headers) {
  const params = {
    headers: Object.assign({ 'x-market-id': market.id, 'content-type': 'application/json' }, headers || {}),
    tags: { name: `${method} ${op === 'list' ? '/v1/orders' : op === 'create' ? '/v1/orders' : '/v1/orders/:id'}` },
    timeout: cfg.timeout || '10s',
    responseType: 'text',
  };
  const started = Date.now();
  const res = http.request(method, `${t.url}${path}`, body === undefined ? null : JSON.stringify(body), params);
  const waited = Math.max(res.timings.duration + res.timings.blocked, Date.now() - started - 1, 0);
  return { res, waited };
}

function record(t, market, op, res, waited, attempt) {
  const cell = (res.headers && (res.headers['X-Cell-Id'] || res.headers['x-cell-id'])) || market.cell;
  const code = errorCode(res);
  const failed = EXPECTED[op].indexOf(res.status) < 0;
  const tags = {
    market: market.id,
    owner: market.cell,
    cell,
    plane: t.plane,
    replica: t.replica,
    op,
    status: String(res.status),
    code,
    scope: cfg.faultCells && cfg.faultCells.indexOf(market.cell) >= 0 ? 'faulted' : 'other',
    attempt,
    ok: failed ? 'false' : 'true',
  };
  reqTrend.add(waited, tags);
  failedRate.add(failed, tags);
}

// One request with the load balancer's behaviour: a refused connection marks the replica down
// for a moment and goes to another replica of the same plane; a 503 market_migrating is retried
// after its Retry-After (bounded), as a well-behaved client does.
function call(market, op, method, path, body, headers) {
  let t = pickTarget(market, undefined);
  let attempt = 'first';
  for (let i = 0; i < 4; i++) {
    const { res, waited } = send(t, market, op, method, path, body, headers);
    if (res.status === 0 && NOT_SENT[res.error_code] && i === 0) {
      downUntil[t.replica] = Date.now() + (cfg.replicaDownMs || 2000);
      failovers.add(1, { plane: t.plane, replica: t.replica });
      const other = pickTarget(market, t.plane, t.replica);
      if (other) {
        t = other;
        attempt = 'failover';
        continue;
      }
    }
    if (res.status === 503 && cfg.honourRetryAfter && i < 3 && errorCode(res) === 'market_migrating') {
      const ra = Number(res.headers['Retry-After'] || res.headers['retry-after'] || 1);
      sleep(Math.min(Math.max(ra, 0.05), cfg.maxRetryAfterS || 1));
      attempt = 'retry';
      continue;
    }
    record(t, market, op, res, waited, attempt);
    return res;
  }
  return undefined;
}

function orderId(res) {
  if (!res || res.status < 200 || res.status >= 300) return undefined;
  try {
    const body = JSON.parse(res.body);
    return (body && (body.id || (body.order && body.order.id))) || undefined;
  } catch (_) {
    return undefined;
  }
}

function remember(market, id) {
  if (!id) return;
  const list = known[market] || (known[market] = []);
  list.push(id);
  if (list.length > 50) list.shift();
}

export default function () {
  const market = markets[pick(cumulative, total)];
  let op = mixOps[pick(mixCum, mixTotal)];
  const mine = known[market.id] || [];
  if ((op === 'get' || op === 'cancel') && mine.length === 0) op = 'create';
  if (op === 'create') {
    const key = `${cfg.runId}-${__VU}-${__ITER}`;
    const body = {
      customerId: `cust-${__VU}-${__ITER % 97}`,
      items: [{ sku: `sku-${__ITER % 13}`, qty: 1 + (__ITER % 3), priceCents: 250 + (__ITER % 7) * 100 }],
      address: `${__ITER % 200} Market Street, ${market.id}`,
    };
    const res = call(market, 'create', 'POST', '/v1/orders', body, { 'Idempotency-Key': key });
    const id = orderId(res);
    remember(market.id, id);
    if (id) call(market, 'read', 'GET', `/v1/orders/${encodeURIComponent(id)}`);
  } else if (op === 'get') {
    const id = mine[Math.floor(Math.random() * mine.length)];
    call(market, 'get', 'GET', `/v1/orders/${encodeURIComponent(id)}`);
  } else if (op === 'list') {
    call(market, 'list', 'GET', `/v1/orders?market=${encodeURIComponent(market.id)}&limit=20`);
  } else {
    const idx = Math.floor(Math.random() * mine.length);
    const id = mine[idx];
    mine.splice(idx, 1);
    call(market, 'cancel', 'POST', `/v1/orders/${encodeURIComponent(id)}/cancel`, { reason: 'customer_request' });
  }
}
