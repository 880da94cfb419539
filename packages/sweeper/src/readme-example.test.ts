import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ManualClock, hashSessionId } from '@session-cluster/core';
import { RedisStore } from '@session-cluster/store-redis';
import { useRedisServer } from '@session-cluster/testkit';
import { describe, expect, it } from 'vitest';
import { ExpirySweeper } from './expiry-sweeper.js';
import { createSessions, testPrefix, waitFor } from './sweeper-harness.test-helpers.js';

const PACKAGE_DIR = fileURLToPath(new URL('../', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../examples/consume-expired-sessions.ts', import.meta.url));

const server = useRedisServer();

describe('the README consumer example (examples/consume-expired-sessions.ts)', () => {
  it('is the code the README shows', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const example = readFileSync(EXAMPLE, 'utf8');
    expect(readme).toContain('```ts\n' + example + '```');
  });

  it('runs: prints each expiry a sweep publishes, once, and exits 0 on SIGTERM', async () => {
    const prefix = testPrefix();
    const store = new RedisStore({ connection: { url: server.url }, prefix, buckets: 4 });
    const sweeper = new ExpirySweeper({ store, clock: new ManualClock(Date.now() + 120_000) });
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@session-cluster/source', EXAMPLE],
      {
        cwd: PACKAGE_DIR,
        env: { ...process.env, REDIS_URL: server.url, SESSION_PREFIX: prefix },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await waitFor('the example to start', () => stdout.includes('consuming\n'), 30_000);
      const ids = await createSessions(store, 12, {
        expiresAt: Date.now() + 60_000,
        userOf: (i) => `user-${i}`,
      });
      expect((await sweeper.sweepAll()).published).toBe(12);
      const lines = (): { expired: string; userId: string }[] =>
        stdout
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as { expired: string; userId: string });
      await waitFor('12 expiries printed', () => lines().length >= 12);
      expect(new Set(lines().map((l) => l.expired))).toEqual(
        new Set(ids.map((id) => hashSessionId(id))),
      );
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(lines()).toHaveLength(12);
      expect(stderr).toBe('');
    } finally {
      child.kill('SIGKILL');
      await sweeper.close();
      await store.close();
    }
  }, 60_000);
});
