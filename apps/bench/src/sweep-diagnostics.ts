/**
 * Helpers of the sweep diagnostics (sweep-outbox-cost.ts,
 * sweep-events-instructions.ts): sessions that expire at once, and the
 * instruction count of a redis-server run under `valgrind --tool=callgrind`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { generateSessionId } from '@session-cluster/core';
import type { RedisStore } from '@session-cluster/store-redis';

/**
 * Create `sessions` sessions through `store`, 4 per user, 1 000 at a time,
 * each thousand expiring 1.5 s after it is written; resolves once all have
 * expired.
 */
export async function createExpiringSessions(store: RedisStore, sessions: number): Promise<void> {
  let expiresAt = 0;
  for (let start = 0; start < sessions; start += 1_000) {
    expiresAt = Date.now() + 1_500;
    await Promise.all(
      Array.from({ length: Math.min(1_000, sessions - start) }, (_, i) =>
        store.create({
          id: generateSessionId(),
          userId: `u${(start + i) % Math.max(1, Math.round(sessions / 4))}`,
          data: { cart: [17, 42], theme: 'dark', visits: 3 },
          expiresAt,
        }),
      ),
    );
  }
  await delay(Math.max(0, expiresAt + 20 - Date.now()));
}

/**
 * Instructions a callgrind-run redis-server (process `pid`, dumps in
 * `dir`) executed since the previous call: `callgrind_control -d` dumps
 * and zeroes the counters.
 */
export function callgrindCounter(pid: number, dir: string): () => number {
  let dumps = 0;
  return () => {
    execFileSync('callgrind_control', ['-d', String(pid)], { stdio: 'ignore' });
    dumps += 1;
    const file = readdirSync(dir).find((name) => name.endsWith(`.${pid}.${dumps}`));
    const text = readFileSync(`${dir}/${file ?? ''}`, 'utf8');
    return Number(/^(?:summary|totals): (\d+)/m.exec(text)?.[1]);
  };
}
