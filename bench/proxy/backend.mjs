// A minimal upstream for benchmarks (plain JS, no loader): answers every request with exactly 1024 body bytes,
// `content-length`, and `x-upstream: <name>`; counts requests per name on GET /__count.
// Usage: node bench/proxy/backend.mjs <port> <name>   (prints "ready <port>" once listening)
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 0);
const name = process.argv[3] ?? 'v1';
const body = Buffer.alloc(1024, 'x');
let count = 0;
const server = createServer((req, res) => {
  if (req.url === '/__count') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(String(count));
    return;
  }
  count++;
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1024', 'x-upstream': name });
  res.end(body);
});
server.keepAliveTimeout = 120_000;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
