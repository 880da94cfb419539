import * as zlib from 'node:zlib';
import { hash } from 'node:crypto';
const s = 'x'.repeat(43) + '{"user":' + JSON.stringify({a:'b'.repeat(850)});
function bench(name: string, fn: (i: number) => unknown) {
  for (let i = 0; i < 20000; i++) fn(i);
  const N = 300000; const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  console.log(name.padEnd(30), (Number(process.hrtime.bigint() - t) / 1000 / N).toFixed(2), 'µs');
}
bench('crc32 900 chars once', () => zlib.crc32(s));
bench('crc32 100 chars', () => zlib.crc32(s.slice(0, 100)));
bench('sha1 hash() 900', () => hash('sha1', s));
bench('md5 hash() 900', () => hash('md5', s));
