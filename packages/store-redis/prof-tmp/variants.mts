import * as zlib from 'node:zlib';
import { createSessionCodec, generateSessionId } from '@session-cluster/core';
import { sessionFixture } from '../../../apps/bench/src/session-fixture.ts';
const codec = createSessionCodec();
const N = 200_000;
const ids = Array.from({ length: 100 }, () => generateSessionId());
const encs = ids.map((id, i) => codec.encodeData(id, sessionFixture(i)).fields);
function bench(name: string, fn: (i: number) => unknown) {
  for (let i = 0; i < 20000; i++) fn(i);
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  const us = Number(process.hrtime.bigint() - t) / 1000 / N;
  console.log(name.padEnd(30), us.toFixed(2), 'µs');
}
bench('codec.decodeData', (i) => codec.decodeData(ids[i % 100]!, encs[i % 100]!));
// crc only
bench('crc32 string x7', (i) => { let x = 0; for (const [k, v] of encs[i % 100]!) x ^= zlib.crc32(`${ids[i % 100]}\0${k}\0${v.slice(12)}`); return x; });
const TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; TABLE[n] = c; }
function crcStr(s: string, crc: number): number {
  crc = ~crc;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) { crc = TABLE[(crc ^ c) & 0xff]! ^ (crc >>> 8); continue; }
    // non-ascii: fall back
    return -1;
  }
  return ~crc >>> 0;
}
bench('crc js x7', (i) => { let x = 0; for (const [k, v] of encs[i % 100]!) { let c = crcStr(ids[i % 100]!, 0); c = crcStr('\0' + k + '\0', c); x ^= crcStr(v.slice(12), c); } return x; });
console.log(crcStr('hello', 0), zlib.crc32('hello'));
bench('JSON.parse x7', (i) => { let x; for (const [, v] of encs[i % 100]!) x = JSON.parse(v.slice(12)); return x; });
bench('one JSON.parse assembled', (i) => { const parts: string[] = []; for (const [k, v] of encs[i % 100]!) parts.push(JSON.stringify(k) + ':' + v.slice(12)); return JSON.parse('{' + parts.join(',') + '}'); });
const re = /__proto__|constructor|prototype|\\u/;
bench('regex x7', (i) => { let x = false; for (const [, v] of encs[i % 100]!) x = x || re.test(v); return x; });
