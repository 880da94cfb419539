/**
 * Diagnostic: Redis instructions per session of a sweeper worker without
 * events and with events taken by a consumer, against a redis-server run
 * under `valgrind --tool=callgrind` (`REDIS_URL`, dumps in `CALLGRIND_DIR`):
 * deterministic where CPU time moves with the machine's load. Both in this
 * process, one after the other, each on its own prefix.
 * `node apps/bench/dist/sweep-events-instructions.js [sessions] [rounds]`.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { RedisStore } from '@session-cluster/store-redis';
import { ExpirySweeper, consumeExpiredSessions } from '@session-cluster/sweeper';
import { Redis } from 'ioredis';
import { callgrindCounter, createExpiringSessions } from './sweep-diagnostics.js';

const sessions = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 2);
const url = process.env['REDIS_URL'] ?? '';
const dir = process.env['CALLGRIND_DIR'] ?? '';
const probe = new Redis(url);
const pid = Number(/process_id:(\d+)/.exec(await probe.info('server'))?.[1]);
const instructions = callgrindCounter(pid, dir);

async function scenario(events: boolean, prefix: string): Promise<number> {
  const store = new RedisStore({ connection: { url }, prefix, commandTimeoutMs: 60_000 });
  await createExpiringSessions(store, sessions);
  await store.close();
  let delivered = 0;
  const consumer = events
    ? consumeExpiredSessions(
        { url },
        () => {
          delivered += 1;
        },
        { prefix, concurrency: 64, batchConcurrency: 4 },
      )
    : undefined;
  await consumer?.ready();
  const sweeper = new ExpirySweeper({
    connection: { url },
    prefix,
    publishEvents: events,
    concurrency: 4,
    batchSize: 1_000,
    intervalMs: 5_000,
    telemetry: true,
  });
  await sweeper.store.ping();
  instructions();
  await sweeper.start();
  while (sweeper.stats.expired < sessions || (events && delivered < sessions)) await delay(50);
  const spent = instructions();
  await sweeper.close();
  await consumer?.close();
  return Math.round(spent / sessions);
}

for (let round = 0; round < rounds; round += 1) {
  const order = round % 2 === 0 ? [false, true] : [true, false];
  const figures: Record<string, number> = {};
  for (const events of order) {
    figures[events ? 'events' : 'none'] = await scenario(events, `ei${round}${events ? 'e' : 'n'}`);
  }
  console.log(JSON.stringify({ round: round + 1, sessions, ...figures }));
}
probe.disconnect();
