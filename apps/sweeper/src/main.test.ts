import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { generateSessionId } from '@session-cluster/core';
import { RedisExpiryOutbox, RedisStore } from '@session-cluster/store-redis';
import {
  startOtlpReceiver,
  startRedisSentinel,
  startRedisServer,
  useRedisServer,
} from '@session-cluster/testkit';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { SWEEPER_USAGE } from './sweeper-args.js';

const APP_DIR = fileURLToPath(new URL('../', import.meta.url));

/** The app as a real process; its own env only (nothing inherited that configures it). */
function runApp(
  env: Record<string, string>,
  args: readonly string[] = [],
): {
  child: ChildProcess;
  lines: () => Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<number | null>;
} {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !/^(REDIS_|SESSION_|SWEEP_|LOG_LEVEL|OTEL_)/.test(name),
    ),
  );
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@session-cluster/source', 'src/main.ts', ...args],
    { cwd: APP_DIR, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
  return {
    child,
    lines: () =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    stderr: () => stderr,
    exited,
  };
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// Each of these only starts the app and reads its exit: they run side by side
// (tsx loading the sources is most of their time).
describe.concurrent('apps/sweeper: command line', () => {
  it.each(['--help', '-h'])(
    '%s prints the usage and exits 0, whatever the environment',
    async (flag) => {
      let stdout = '';
      const app = runApp({}, [flag]);
      app.child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      expect(await app.exited).toBe(0);
      expect(stdout).toBe(SWEEPER_USAGE);
      expect(app.stderr()).toBe('');
    },
  );

  it('an unknown option exits 2 with the reason and the usage', async () => {
    const app = runApp({ REDIS_URL: 'redis://127.0.0.1:1' }, ['--sweep-now']);
    expect(await app.exited).toBe(2);
    expect(app.stderr()).toMatch(/^session sweeper: Unknown option '--sweep-now'/);
    expect(app.stderr()).toContain('Usage: node apps/sweeper/dist/main.js [--demo]');
  }, 60_000);
});

describe.concurrent('apps/sweeper: configuration', () => {
  it('exits 2 naming every bad variable', async () => {
    const app = runApp({
      SWEEP_INTERVAL_MS: 'soon',
      SWEEP_PUBLISH_EVENTS: 'maybe',
      LOG_LEVEL: 'loud',
    });
    expect(await app.exited).toBe(2);
    const message = app.stderr();
    expect(message).toContain('invalid configuration');
    expect(message).toContain(
      'no Redis: set SESSION_REDIS_URL (or REDIS_URL), REDIS_CLUSTER_NODES or REDIS_SENTINELS',
    );
    expect(message).toContain('SWEEP_INTERVAL_MS: expected a whole number, got "soon"');
    expect(message).toContain('SWEEP_PUBLISH_EVENTS: expected true or false');
    expect(message).toContain('LOG_LEVEL');
  });

  it('exits 2 for a value out of range, naming the variable', async () => {
    const app = runApp({ REDIS_URL: 'redis://127.0.0.1:1', SWEEP_CONCURRENCY: '0' });
    expect(await app.exited).toBe(2);
    expect(app.stderr()).toMatch(/SWEEP_CONCURRENCY: .*concurrency: expected an integer from 1/);
  });
});

describe('apps/sweeper: a real run', () => {
  const server = useRedisServer();

  it('sweeps expired sessions, logs progress, publishes events, and exits 0 on SIGTERM', async () => {
    const prefix = `app${randomUUID().slice(0, 8)}`;
    const store = new RedisStore({ connection: { url: server.url }, prefix, buckets: 8 });
    const expiresAt = Date.now() + 500;
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        store.create({ id: generateSessionId(), userId: `u${i % 10}`, data: { i }, expiresAt }),
      ),
    );
    const app = runApp({
      SESSION_REDIS_URL: server.url,
      SESSION_PREFIX: prefix,
      SESSION_BUCKETS: '8',
      SWEEP_INTERVAL_MS: '300',
    });
    try {
      await waitFor('the start line', () =>
        app.lines().some((l) => l['msg'] === 'sweeper started'),
      );
      const started = app.lines().find((l) => l['msg'] === 'sweeper started')!;
      expect(started).toMatchObject({
        level: 30,
        prefix,
        buckets: 8,
        queuePrefix: `{${prefix}:sweeper}`,
      });
      await waitFor('200 swept in the progress lines', () =>
        app.lines().some((l) => l['msg'] === 'progress' && l['totalSwept'] === 200),
      );
      const progress = app.lines().filter((l) => l['msg'] === 'progress');
      expect(progress.reduce((n, l) => n + Number(l['swept']), 0)).toBe(200);

      app.child.kill('SIGTERM');
      expect(await app.exited).toBe(0);
      expect(app.lines().at(-1)).toMatchObject({ msg: 'stopped', totals: { expired: 200 } });
      expect(app.stderr()).toBe('');
    } finally {
      app.child.kill('SIGKILL');
      await store.close();
    }

    // The events wait in the queue for an application's consumer: batch jobs
    // in BullMQ's wait list (read raw: this app does not depend on bullmq
    // itself), each job's data naming its batch in the store's outbox, where
    // the expiries wait until a consumer has handled them.
    const client = new Redis(server.url, { commandTimeout: 5_000, maxRetriesPerRequest: 3 });
    try {
      const queue = `{${prefix}:sweeper}:session-expiries`;
      const jobIds = await client.lrange(`${queue}:wait`, 0, -1);
      expect(jobIds.length).toBeGreaterThan(0);
      const outbox = new RedisExpiryOutbox(client, 5_000);
      const expired = new Set<string>();
      for (const jobId of jobIds) {
        const data = JSON.parse((await client.hget(`${queue}:${jobId}`, 'data')) ?? '{}') as {
          prefix: string;
          bucket: number;
          batchId: string;
          size: number;
        };
        const batch = await outbox.read(data.prefix, data.bucket, data.batchId);
        expect(batch?.expiries).toHaveLength(data.size);
        for (const expiry of batch?.expiries ?? []) expired.add(expiry.id);
      }
      expect(expired.size).toBe(200);
    } finally {
      client.disconnect();
    }
  }, 60_000);

  it('--demo sweeps the demo’s sessions: prefix "demo" by default, BullMQ under {demo:sweeper}', async () => {
    // The server is this file's own, so the demo's fixed prefix is fresh here.
    const store = new RedisStore({ connection: { url: server.url }, prefix: 'demo' });
    const expiresAt = Date.now() + 300;
    await Promise.all(
      Array.from({ length: 30 }, () =>
        store.create({ id: generateSessionId(), data: {}, expiresAt }),
      ),
    );
    const app = runApp({ REDIS_URL: server.url, SWEEP_INTERVAL_MS: '300' }, ['--demo']);
    try {
      await waitFor('30 swept', () =>
        app.lines().some((l) => l['msg'] === 'progress' && l['totalSwept'] === 30),
      );
      expect(app.lines().find((l) => l['msg'] === 'sweeper started')).toMatchObject({
        prefix: 'demo',
        buckets: 64,
        queuePrefix: '{demo:sweeper}',
      });
      app.child.kill('SIGTERM');
      expect(await app.exited).toBe(0);
    } finally {
      app.child.kill('SIGKILL');
      await store.close();
    }
  }, 60_000);

  it('exports its sweep spans over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, and flushes on SIGTERM', async () => {
    const receiver = await startOtlpReceiver();
    const prefix = `app${randomUUID().slice(0, 8)}`;
    const store = new RedisStore({ connection: { url: server.url }, prefix, buckets: 4 });
    const ids = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const id = generateSessionId();
        await store.create({ id, data: {}, expiresAt: Date.now() + 300 });
        return id;
      }),
    );
    const app = runApp({
      SESSION_REDIS_URL: server.url,
      SESSION_PREFIX: prefix,
      SESSION_BUCKETS: '4',
      SWEEP_INTERVAL_MS: '300',
      SWEEP_PUBLISH_EVENTS: 'false',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      // The receiver reads OTLP/JSON; startTelemetry sends protobuf by default.
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'sweeper-under-test',
    });
    try {
      await waitFor('20 swept', () =>
        app.lines().some((l) => l['msg'] === 'progress' && l['totalSwept'] === 20),
      );
      app.child.kill('SIGTERM');
      expect(await app.exited).toBe(0);
      // Exported by the shutdown's flush at the latest.
      const sweeps = receiver.spans.filter((s) => s.name === 'session.sweep');
      expect(sweeps.length).toBeGreaterThan(0);
      expect(receiver.requests.some((r) => r.text.includes('sweeper-under-test'))).toBe(true);
      const exported = receiver.requests.map((r) => r.text).join('\n');
      for (const id of ids) expect(exported).not.toContain(id);
    } finally {
      app.child.kill('SIGKILL');
      await store.close();
      await receiver.close();
    }
  }, 60_000);
});

describe('apps/sweeper: through Redis Sentinel', () => {
  it('finds the master by REDIS_SENTINELS and REDIS_SENTINEL_NAME and sweeps there', async () => {
    const master = await startRedisServer();
    const sentinel = await startRedisSentinel({ name: 'sweeper-master', master });
    const prefix = `app${randomUUID().slice(0, 8)}`;
    const store = new RedisStore({ connection: { url: master.url }, prefix, buckets: 4 });
    const app = runApp({
      REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`,
      REDIS_SENTINEL_NAME: 'sweeper-master',
      SESSION_PREFIX: prefix,
      SESSION_BUCKETS: '4',
      SWEEP_INTERVAL_MS: '300',
      SWEEP_PUBLISH_EVENTS: 'false',
    });
    try {
      const expiresAt = Date.now() + 300;
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          store.create({ id: generateSessionId(), userId: `u${i % 5}`, data: { i }, expiresAt }),
        ),
      );
      await waitFor('the start line', () =>
        app.lines().some((l) => l['msg'] === 'sweeper started'),
      );
      expect(app.lines().find((l) => l['msg'] === 'sweeper started')).toMatchObject({
        redis: `sentinel 127.0.0.1:${sentinel.port} master sweeper-master`,
      });
      await waitFor('50 swept', () =>
        app.lines().some((l) => l['msg'] === 'progress' && l['totalSwept'] === 50),
      );
      expect(await store.listByUser('u0')).toEqual([]);
      app.child.kill('SIGTERM');
      expect(await app.exited).toBe(0);
      expect(app.stderr()).toBe('');
    } finally {
      app.child.kill('SIGKILL');
      await store.close();
      await Promise.all([sentinel.stop(), master.stop()]);
    }
  }, 60_000);
});
