/**
 * Diagnostic: Redis instructions per session of a sweeper worker without
 * events and with events taken by a consumer, against a redis-server run
 * under `valgrind --tool=callgrind` (`REDIS_URL`, dumps in `CALLGRIND_DIR`):
 * deterministic where CPU time moves with the machine's load. Both in this
 * process, one after the other, each on its own prefix.
 * `node apps/bench/dist/sweep-events-instructions.js [sessions] [rounds]`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { generateSessionId } from '@session-cluster/core';
import { RedisStore } from '@session-cluster/store-redis';
import { ExpirySweeper, consumeExpiredSessions } from '@session-cluster/sweeper';
import { Redis } from 'ioredis';

const sessions = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 2);
const url = process.env['REDIS_URL'] ?? '';
const dir = process.env['CALLGRIND_DIR'] ?? '';
const probe = new Redis(url);
const pid = Number(/process_id:(\d+)/.exec(await probe.info('server'))?.[1]);
let dumps = 0;
function instructions(): number {
  execFileSync('callgrind_control', ['-d', String(pid)], { stdio: 'ignore' });
  dumps += 1;
  const file = readdirSync(dir).find((name) => name.endsWith(`.${pid}.${dumps}`));
  return Number(
    /^(?:summary|totals): (\d+)/m.exec(readFileSync(`${dir}/${file ?? ''}`, 'utf8'))?.[1],
  );
}

async function scenario(events: boolean, prefix: string): Promise<number> {
  const store = new RedisStore({ connection: { url }, prefix, commandTimeoutMs: 60_000 });
  let expiresAt = 0;
  for (let start = 0; start < sessions; start += 1_000) {
    expiresAt = Date.now() + 1_500;
    await Promise.all(
      Array.from({ length: 1_000 }, (_, i) =>
        store.create({
          id: generateSessionId(),
          userId: `u${(start + i) % (sessions / 4)}`,
          data: { cart: [17, 42], theme: 'dark', visits: 3 },
          expiresAt,
        }),
      ),
    );
  }
  await store.close();
  await delay(Math.max(0, expiresAt + 20 - Date.now()));
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
