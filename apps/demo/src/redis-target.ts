import { redisServerOnPath, startEmbeddedRedis } from './embedded-redis.js';
import type { EmbeddedRedis } from './embedded-redis.js';
import { pingRedis } from './redis-ping.js';

/** Where the demo keeps sessions. */
export type RedisTarget =
  | { readonly kind: 'external'; readonly url: string }
  | { readonly kind: 'embedded'; readonly url: string; readonly server: EmbeddedRedis }
  | { readonly kind: 'memory'; readonly reason: string };

/** The URL used when `REDIS_URL` is not set. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * Pick the Redis the demo uses: `REDIS_URL` (default 127.0.0.1:6379) when it
 * answers; else a private `redis-server` when one is on PATH (on port 6379
 * if free, else a free port);
 * else memory-only mode. An explicitly configured `REDIS_URL` that does not
 * answer is an error, not a silent fallback.
 */
export async function resolveRedisTarget(
  env: NodeJS.ProcessEnv = process.env,
): Promise<RedisTarget> {
  // An empty REDIS_URL counts as unset.
  const configured = env['REDIS_URL'] === '' ? undefined : env['REDIS_URL'];
  const url = configured ?? DEFAULT_REDIS_URL;
  // rediss:// and password URLs are not pinged here: trust the explicit setting.
  if (configured !== undefined && !configured.startsWith('redis://'))
    return { kind: 'external', url };
  if (await pingRedis(url)) return { kind: 'external', url };
  if (configured !== undefined) {
    throw new Error(`REDIS_URL=${configured} does not answer PING`);
  }
  if (redisServerOnPath()) {
    // On Redis's usual port when free: `pnpm sweeper` finds it with no settings.
    const server = await startEmbeddedRedis(Number(new URL(DEFAULT_REDIS_URL).port));
    return { kind: 'embedded', url: server.url, server };
  }
  return { kind: 'memory', reason: `no Redis at ${url} and no redis-server on PATH` };
}

/** One line saying where sessions live. */
export function describeTarget(target: RedisTarget): string {
  switch (target.kind) {
    case 'external':
      return `sessions in Redis at ${target.url}`;
    case 'embedded':
      return `sessions in a private redis-server at ${target.url} (set REDIS_URL to use your own)`;
    case 'memory':
      return `MEMORY-ONLY MODE: ${target.reason}. One instance only; sessions live in its memory and die with it.`;
  }
}
