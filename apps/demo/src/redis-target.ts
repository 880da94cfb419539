import { execFileSync } from 'node:child_process';
import { respCommand, startRedisServer, type RedisServerHandle } from '@session-cluster/testkit';

/** Where the demo keeps sessions. */
export type RedisTarget =
  | { readonly kind: 'external'; readonly url: string }
  | { readonly kind: 'embedded'; readonly url: string; readonly server: RedisServerHandle }
  | { readonly kind: 'memory'; readonly reason: string };

/** The URL used when `REDIS_URL` is not set. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

async function answersPing(url: string): Promise<boolean> {
  const parsed = new URL(url);
  try {
    const reply = await respCommand(Number(parsed.port || 6379), ['PING'], {
      host: parsed.hostname,
      timeoutMs: 500,
    });
    return reply === 'PONG';
  } catch {
    return false;
  }
}

function redisServerOnPath(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Pick the Redis the demo uses: `REDIS_URL` (default 127.0.0.1:6379) when it
 * answers; else a private `redis-server` on a free port when one is on PATH;
 * else memory-only mode. An explicitly configured `REDIS_URL` that does not
 * answer is an error, not a silent fallback.
 */
export async function resolveRedisTarget(
  env: NodeJS.ProcessEnv = process.env,
): Promise<RedisTarget> {
  // An empty REDIS_URL counts as unset.
  const configured = env['REDIS_URL'] === '' ? undefined : env['REDIS_URL'];
  const url = configured ?? DEFAULT_REDIS_URL;
  if (await answersPing(url)) return { kind: 'external', url };
  if (configured !== undefined) {
    throw new Error(`REDIS_URL=${configured} does not answer PING`);
  }
  if (redisServerOnPath()) {
    const server = await startRedisServer();
    return { kind: 'embedded', url: server.url, server };
  }
  return { kind: 'memory', reason: `no Redis at ${url} and no redis-server on PATH` };
}
