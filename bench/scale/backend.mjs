// The real upstream of `npm run bench:scale` (plain JS, no loader): listens on `count` loopback ports (chosen by the
// kernel) and answers every request with 64 body bytes and `x-upstream: p<index>`.
// Usage: node bench/scale/backend.mjs <count>   (prints one line "ready <port> <port> …" once all listen)
import { createServer } from 'node:http';

const count = Number(process.argv[2] ?? 1);
const body = Buffer.alloc(64, 'x');
const servers = [];
for (let i = 0; i < count; i++) {
  const name = `p${i}`;
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '64', 'x-upstream': name });
    res.end(body);
  });
  server.keepAliveTimeout = 120_000;
  servers.push(server);
}
await Promise.all(servers.map((s) => new Promise((resolve) => s.listen(0, '127.0.0.1', resolve))));
process.stdout.write(`ready ${servers.map((s) => s.address().port).join(' ')}\n`);
process.on('SIGTERM', () => {
  for (const s of servers) s.closeAllConnections();
  Promise.all(servers.map((s) => new Promise((r) => s.close(r)))).then(() => process.exit(0));
});
