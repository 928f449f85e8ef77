/**
 * A bare upstream for the xDS benchmark: one node:http process listening on several ports,
 * each port standing for one cell (answers `{"cell":...}` with x-cell-id), registered in
 * Consul as a passing `cellsim-cell` instance with an HTTP check on /readyz. Bare so that
 * Envoy, not the upstream framework, is what the throughput figures measure.
 * Usage: tsx upstream.ts <consul-url> <cell>=<port> [<cell>=<port> ...]
 */
import { createServer } from 'node:http';
import { ConsulClient, SERVICE_CELL } from '../../../shared/consul.js';

const [consul, ...pairs] = process.argv.slice(2);
if (!consul || pairs.length === 0) {
  process.stderr.write('usage: upstream.ts <consul-url> <cell>=<port> ...\n');
  process.exit(2);
}
const client = new ConsulClient({ url: consul });
const ids: string[] = [];
for (const pair of pairs) {
  const [cell, portText] = pair.split('=');
  const port = Number(portText);
  const body = JSON.stringify({ cell });
  createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-cell-id': cell, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  }).listen(port, '127.0.0.1');
  const id = `cellsim-cell-${cell}-blue-${port}`;
  ids.push(id);
  await client.agent.register({
    ID: id,
    Name: SERVICE_CELL,
    Address: '127.0.0.1',
    Port: port,
    Meta: { cell: cell ?? '', version: 'v1', color: 'blue' },
    Check: { HTTP: `http://127.0.0.1:${port}/readyz`, Interval: '1s', Timeout: '1s' },
  });
}
process.stdout.write('upstream ready\n');
const stop = async () => {
  for (const id of ids) await client.agent.deregister(id).catch(() => undefined);
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
