// RSS, V8 heap and touched pages of the node binary after importing modules one by one, each after a full GC:
//   node --expose-gc bench/lab/mem-import.mjs node:http undici zod prom-client …   (paths relative to bench/lab)
import { readFileSync } from 'node:fs';

const mods = process.argv.slice(2);
const mb = (x) => (x / 1048576).toFixed(1);
function snap(label) {
  global.gc();
  global.gc();
  const m = process.memoryUsage();
  let bin = 0;
  let name = '';
  for (const l of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(l)) name = l.split(/\s+/)[5] ?? '';
    else if (l.startsWith('Rss:') && name === process.execPath) bin += Number(l.split(/\s+/)[1]);
  }
  console.log(
    label.padEnd(28),
    'rss',
    mb(m.rss),
    'heapTotal',
    mb(m.heapTotal),
    'heapUsed',
    mb(m.heapUsed),
    'external',
    mb(m.external),
    'arrayBuffers',
    mb(m.arrayBuffers),
    'nodeBinary',
    (bin / 1024).toFixed(1),
  );
}
snap('bare');
for (const m of mods) {
  await import(m);
  snap(m.slice(0, 40));
}
