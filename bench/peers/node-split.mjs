// The Node baseline with the article's composite rule: bench/proxy/naive.mjs (node:http server + keep-alive
// http.Agent + pipe) plus `x-canary-user: true` → v2, else 95/5 v1/v2 drawn per request.
// Usage: node node-split.mjs <listenPort> <v1Port> <v2Port>   (prints "ready <port>" once listening)
import http from 'node:http';

const [listen, v1, v2] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const server = http.createServer((req, res) => {
  const port = req.headers['x-canary-user'] === 'true' || Math.random() < 0.05 ? v2 : v1;
  const up = http.request(
    { host: '127.0.0.1', port, path: req.url, method: req.method, headers: req.headers, agent },
    (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    },
  );
  up.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(up);
});
server.keepAliveTimeout = 120_000;
server.listen(listen, '127.0.0.1', () => process.stdout.write(`ready ${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
