/**
 * The benchmark's upstream cell: a bare node:http server (keep-alive, small JSON answer), so
 * that the router, not the upstream, is what the benchmark compares.
 */
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 0);
const cell = process.argv[3] ?? 'bench';
const body = JSON.stringify({ ok: true, cell });
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-upstream-cell': cell });
    res.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`upstream listening ${typeof a === 'object' && a ? a.port : port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
