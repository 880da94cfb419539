import { describe, expect, it } from 'vitest';
import { LogThrottle } from './log-throttle.js';
import { readSweeperConfig } from './sweeper-config.js';

describe('readSweeperConfig', () => {
  it('reads a standalone URL and every tuning variable', () => {
    const result = readSweeperConfig({
      REDIS_URL: 'redis://:secret@10.0.0.5:6380',
      SESSION_PREFIX: 'app',
      SESSION_BUCKETS: '128',
      SWEEP_INTERVAL_MS: '2000',
      SWEEP_BATCH: '500',
      SWEEP_CONCURRENCY: '8',
      SWEEP_MAX_BATCHES: '20',
      SWEEP_PUBLISH_EVENTS: 'off',
      SWEEP_TELEMETRY: 'true',
      LOG_LEVEL: 'debug',
    });
    expect(result).toMatchObject({
      ok: true,
      config: {
        logLevel: 'debug',
        redisDescription: 'redis://***@10.0.0.5:6380',
        sweeper: {
          connection: { url: 'redis://:secret@10.0.0.5:6380' },
          prefix: 'app',
          buckets: 128,
          intervalMs: 2_000,
          batchSize: 500,
          concurrency: 8,
          maxBatchesPerJob: 20,
          publishEvents: false,
          telemetry: true,
        },
      },
    });
  });

  it('prefers SESSION_REDIS_URL and reads Cluster nodes with a password', () => {
    const standalone = readSweeperConfig({
      SESSION_REDIS_URL: 'redis://a:1',
      REDIS_URL: 'redis://b:2',
    });
    expect(standalone.ok && standalone.config.sweeper.connection).toEqual({ url: 'redis://a:1' });
    const cluster = readSweeperConfig({
      REDIS_CLUSTER_NODES: 'r1:7000, r2:7001',
      REDIS_PASSWORD: 'pw',
    });
    expect(cluster.ok && cluster.config.sweeper.connection).toEqual({
      cluster: {
        nodes: [
          { host: 'r1', port: 7000 },
          { host: 'r2', port: 7001 },
        ],
      },
      password: 'pw',
    });
  });

  it('reads Sentinels and the master name, and wants both', () => {
    const result = readSweeperConfig({
      REDIS_SENTINELS: 's1:26379, s2:26380',
      REDIS_SENTINEL_NAME: 'sessions',
      REDIS_PASSWORD: 'pw',
    });
    expect(result.ok && result.config.sweeper.connection).toEqual({
      sentinels: [
        { host: 's1', port: 26_379 },
        { host: 's2', port: 26_380 },
      ],
      name: 'sessions',
      password: 'pw',
    });
    expect(result.ok && result.config.redisDescription).toBe(
      'sentinel s1:26379,s2:26380 master sessions',
    );
    const problems = (env: Record<string, string>): readonly string[] => {
      const outcome = readSweeperConfig(env);
      return outcome.ok ? [] : outcome.problems;
    };
    expect(problems({ REDIS_SENTINELS: 's1:26379' })).toEqual([
      "REDIS_SENTINEL_NAME: required with REDIS_SENTINELS (the master's name)",
    ]);
    expect(problems({ REDIS_SENTINELS: 's1', REDIS_SENTINEL_NAME: 'm' })).toEqual([
      'REDIS_SENTINELS: expected host:port[,host:port…], got "s1"',
    ]);
    expect(problems({ REDIS_URL: 'redis://a:1', REDIS_SENTINEL_NAME: 'm' })).toEqual([
      'REDIS_SENTINEL_NAME: only valid with REDIS_SENTINELS',
    ]);
  });

  it('reports every problem at once', () => {
    const result = readSweeperConfig({
      REDIS_URL: 'redis://a:1',
      REDIS_CLUSTER_NODES: 'b:2',
      SWEEP_BATCH: '-5',
      SWEEP_TELEMETRY: 'sometimes',
    });
    expect(result.ok).toBe(false);
    expect(!result.ok && [...result.problems].sort()).toEqual([
      'SWEEP_BATCH: expected a whole number, got "-5"',
      'SWEEP_TELEMETRY: expected true or false, got "sometimes"',
      'set one of SESSION_REDIS_URL/REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS, not several',
    ]);
  });
});

describe('LogThrottle', () => {
  it('admits the first of a kind, then one per period with the suppressed count', () => {
    let now = 0;
    const throttle = new LogThrottle(1_000, () => now);
    expect(throttle.admit('a')).toBe(0);
    expect(throttle.admit('a')).toBeUndefined();
    expect(throttle.admit('b')).toBe(0);
    now = 500;
    expect(throttle.admit('a')).toBeUndefined();
    now = 1_000;
    expect(throttle.admit('a')).toBe(2);
  });
});
