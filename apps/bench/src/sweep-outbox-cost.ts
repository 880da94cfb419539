/**
 * Diagnostic: Redis CPU and script time per session of `sweepBucket` with
 * and without the outbox (`pending`), sequential calls on one private
 * redis-server, the halves of the buckets alternating which kind they get.
 * `node apps/bench/dist/sweep-outbox-cost.js [sessions] [rounds]`. With
 * `REDIS_URL` (a redis-server run under `valgrind --tool=callgrind
 * ` writing its dumps to `CALLGRIND_DIR`), instructions per session too:
 * deterministic, where CPU time moves with the machine's load.
 */
import { RedisStore } from '@session-cluster/store-redis';
import { startRedisServer } from '@session-cluster/testkit';
import { Redis } from 'ioredis';
import { callgrindCounter, createExpiringSessions } from './sweep-diagnostics.js';

const sessions = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 2);

async function stats(probe: Redis): Promise<{ cpu: number; evalsha: number }> {
  const info = await probe.info('all');
  const field = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1]);
  const evalsha = Number(/cmdstat_evalsha:calls=\d+,usec=(\d+)/.exec(info)?.[1] ?? 0);
  return {
    cpu: field('used_cpu_user_main_thread') + field('used_cpu_sys_main_thread'),
    evalsha,
  };
}

const external = process.env['REDIS_URL'];
const server = external === undefined ? await startRedisServer() : undefined;
const url = external ?? server?.url ?? '';
const probe = new Redis(url);
const pid = Number(/process_id:(\d+)/.exec(await probe.info('server'))?.[1]);
const dir = process.env['CALLGRIND_DIR'];
const instructions = dir === undefined ? () => Number.NaN : callgrindCounter(pid, dir);
const store = new RedisStore({ connection: { url }, prefix: 'oc', commandTimeoutMs: 60_000 });
try {
  for (let round = 0; round < rounds; round += 1) {
    await createExpiringSessions(store, sessions);
    const figures: Record<string, { us: number; script: number; swept: number; instr: number }> =
      {};
    const order = round % 2 === 0 ? [true, false] : [false, true];
    for (const pending of order) {
      const before = await stats(probe);
      instructions();
      let swept = 0;
      for (let bucket = pending ? 0 : 1; bucket < store.bucketCount; bucket += 2) {
        for (;;) {
          const result = await store.sweepBucket(bucket, Date.now(), 1_000, { pending });
          swept += result.expired.length;
          if (!result.more) break;
        }
      }
      const instr = instructions();
      const after = await stats(probe);
      figures[pending ? 'outbox' : 'none'] = {
        instr: Math.round(instr / swept),
        us: Number((((after.cpu - before.cpu) * 1e6) / swept).toFixed(2)),
        script: Number(((after.evalsha - before.evalsha) / swept).toFixed(2)),
        swept,
      };
    }
    console.log(JSON.stringify({ round: round + 1, ...figures }));
    await probe.flushall();
  }
} finally {
  await store.close();
  probe.disconnect();
  await server?.stop();
}
