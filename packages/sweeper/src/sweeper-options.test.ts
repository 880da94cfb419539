import { SessionValidationError } from '@session-cluster/core';
import { describe, expect, it } from 'vitest';
import { ExpirySweeper } from './expiry-sweeper.js';
import { SWEEPER_DEFAULTS, resolveSweeperOptions } from './sweeper-options.js';
import type { ExpirySweeperOptions } from './sweeper-options.js';

// Never connected: every check runs before a connection is opened.
const connection = { url: 'redis://127.0.0.1:1' };

/** The error `work` throws synchronously. */
function thrown(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  return expect.fail('expected a throw');
}

function rejects(options: ExpirySweeperOptions, field: string): void {
  const error = thrown(() => resolveSweeperOptions(options));
  expect(error).toBeInstanceOf(SessionValidationError);
  expect(error).toMatchObject({ code: 'INVALID_CONFIG', field });
}

describe('resolveSweeperOptions', () => {
  it('applies the defaults, with a hash-tagged BullMQ prefix derived from the key prefix', () => {
    const resolved = resolveSweeperOptions({ connection, prefix: 'app' });
    expect(resolved).toMatchObject({
      queuePrefix: '{app:sweeper}',
      sweepQueueName: 'session-sweep',
      eventsQueueName: 'session-expiries',
      intervalMs: SWEEPER_DEFAULTS.intervalMs,
      batchSize: 1_000,
      concurrency: 4,
      publishEvents: true,
      dedupeWindowMs: 3_600_000,
    });
  });

  it.each<[string, ExpirySweeperOptions]>([
    ['store', {}],
    ['queuePrefix', { connection, queuePrefix: 'sweeper' }],
    ['queuePrefix', { connection, queuePrefix: '{a}{b}' }],
    ['sweepQueueName', { connection, sweepQueueName: 'a:b' }],
    ['eventsQueueName', { connection, eventsQueueName: 'session-sweep' }],
    ['intervalMs', { connection, intervalMs: 10 }],
    ['batchSize', { connection, batchSize: 0 }],
    ['batchSize', { connection, batchSize: 1.5 }],
    ['maxBatchesPerJob', { connection, maxBatchesPerJob: 0 }],
    ['concurrency', { connection, concurrency: 1_000 }],
    ['publishEvents', { connection, publishEvents: 'yes' as unknown as boolean }],
    ['dedupeWindowMs', { connection, intervalMs: 60_000, dedupeWindowMs: 90_000 }],
    ['lockDurationMs', { connection, lockDurationMs: 10 }],
    ['clock', { connection, clock: {} as never }],
  ])('rejects a bad %s', (field, options) => {
    rejects(options, field);
  });

  it('refuses prefix/buckets next to a caller-owned store', () => {
    const store = { prefix: 'x' } as unknown as ExpirySweeperOptions['store'];
    rejects({ store, buckets: 8 }, 'prefix');
  });

  it('ExpirySweeper checks the store options too, before connecting', () => {
    const error = thrown(() => new ExpirySweeper({ connection, prefix: 'bad prefix' }));
    expect(error).toBeInstanceOf(SessionValidationError);
    expect(error).toMatchObject({ code: 'INVALID_CONFIG', field: 'prefix' });
    const misspelt = { connection, intervalMS: 5_000 } as ExpirySweeperOptions;
    expect(thrown(() => new ExpirySweeper(misspelt))).toMatchObject({
      code: 'INVALID_CONFIG',
      field: 'intervalMS',
    });
  });
});
