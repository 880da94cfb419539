import { createSessionCodec, generateSessionId } from '@session-cluster/core';
import { sessionFixture } from '../../../apps/bench/src/session-fixture.ts';
import { frameEntries, readSessionFrame } from '../src/session-frame.ts';
const codec = createSessionCodec();
const N = 200_000;
const ids = Array.from({ length: 100 }, () => generateSessionId());
const frames = ids.map((id, i) => {
  const enc = codec.encodeData(id, sessionFixture(i));
  return `SC1\x1f3\x1f${Date.now() + 1e7}\x1f1\x1f2\x1f${enc.bytes}\x1fuser-1` + frameEntries(enc.fields);
});
console.log('frame bytes', frames[0]!.length);
function bench(name: string, fn: (i: number) => unknown) {
  for (let i = 0; i < 20000; i++) fn(i);
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  const us = Number(process.hrtime.bigint() - t) / 1000 / N;
  console.log(name.padEnd(30), us.toFixed(2), 'µs');
}
const now = Date.now();
bench('readSessionFrame', (i) => readSessionFrame(ids[i % 100]!, frames[i % 100]!, codec, now));
const json = frames.map((_, i) => JSON.stringify(sessionFixture(i)));
bench('JSON.parse whole', (i) => JSON.parse(json[i % 100]!));
bench('encodeData', (i) => codec.encodeData(ids[i % 100]!, sessionFixture(i)));
const data = Array.from({ length: 100 }, (_, i) => sessionFixture(i));
bench('encodeData (prebuilt)', (i) => codec.encodeData(ids[i % 100]!, data[i % 100]!));
bench('JSON.stringify whole', (i) => JSON.stringify(data[i % 100]!));
