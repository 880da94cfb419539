import { configErrorField } from '@session-cluster/testkit';
import { ManualClock, SessionValidationError } from '@session-cluster/core';
import { MemoryStore } from '@session-cluster/store-memory';
import { afterEach, describe, expect, it } from 'vitest';
import { FALLBACK_DEFAULTS, resolveFallbackOptions } from './fallback-options.js';
import type { BreakerOptions, FallbackStoreOptions } from './fallback-options.js';
import { FallbackStore } from './fallback-store.js';

const stores: MemoryStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

function pair(): { primary: MemoryStore; secondary: MemoryStore } {
  const primary = new MemoryStore({ cleanupIntervalMs: 0 });
  const secondary = new MemoryStore({ cleanupIntervalMs: 0 });
  stores.push(primary, secondary);
  return { primary, secondary };
}

function invalidField(options: unknown): string | undefined {
  return configErrorField(() => resolveFallbackOptions(options as FallbackStoreOptions));
}

describe('resolveFallbackOptions', () => {
  it('applies the defaults', () => {
    const { primary, secondary } = pair();
    const resolved = resolveFallbackOptions({ primary, secondary });
    expect(resolved).toMatchObject({
      primary,
      secondary,
      breaker: { kind: 'consecutive', threshold: 5, halfOpenAfterMs: 2_000 },
      timeoutMs: 1_000,
      batchSize: 500,
      concurrency: FALLBACK_DEFAULTS.concurrency,
    });
    expect(typeof resolved.clock.now()).toBe('number');
  });

  it('fills a sampling breaker from its defaults and keeps given values', () => {
    const { primary, secondary } = pair();
    const clock = new ManualClock(5);
    expect(
      resolveFallbackOptions({
        primary,
        secondary,
        clock,
        breaker: { kind: 'sampling', minimumRps: 2, halfOpenAfterMs: 500 },
        timeoutMs: 250,
        reconcile: { batchSize: 10, concurrency: 4, giveUpAfterMs: 0, closeDrainMs: 0 },
      }),
    ).toMatchObject({
      breaker: {
        kind: 'sampling',
        threshold: 0.5,
        durationMs: 10_000,
        minimumRps: 2,
        halfOpenAfterMs: 500,
      },
      timeoutMs: 250,
      batchSize: 10,
      concurrency: 4,
      giveUpAfterMs: 0,
      closeDrainMs: 0,
      clock,
    });
  });

  it('names the bad field', () => {
    const { primary, secondary } = pair();
    const cases: readonly (readonly [unknown, string])[] = [
      [null, 'options'],
      [{ secondary }, 'primary'],
      [{ primary: { load: () => null }, secondary }, 'primary'],
      [{ primary }, 'secondary'],
      [{ primary, secondary: primary }, 'secondary'],
      [{ primary, secondary, breaker: 'consecutive' }, 'breaker'],
      [{ primary, secondary, breaker: { kind: 'random' } }, 'breaker.kind'],
      [{ primary, secondary, breaker: { kind: 'consecutive', threshold: 0 } }, 'breaker.threshold'],
      [
        { primary, secondary, breaker: { kind: 'consecutive', threshold: 1.5 } },
        'breaker.threshold',
      ],
      [{ primary, secondary, breaker: { kind: 'sampling', threshold: 1 } }, 'breaker.threshold'],
      [{ primary, secondary, breaker: { kind: 'sampling', threshold: 0 } }, 'breaker.threshold'],
      [{ primary, secondary, breaker: { kind: 'sampling', durationMs: 50 } }, 'breaker.durationMs'],
      [{ primary, secondary, breaker: { kind: 'sampling', minimumRps: 0 } }, 'breaker.minimumRps'],
      [
        { primary, secondary, breaker: { kind: 'consecutive', halfOpenAfterMs: -1 } },
        'breaker.halfOpenAfterMs',
      ],
      [{ primary, secondary, timeoutMs: 0 }, 'timeoutMs'],
      [{ primary, secondary, timeoutMs: Number.NaN }, 'timeoutMs'],
      [{ primary, secondary, reconcile: 5 }, 'reconcile'],
      [{ primary, secondary, reconcile: { batchSize: 0 } }, 'reconcile.batchSize'],
      [{ primary, secondary, reconcile: { concurrency: 2.5 } }, 'reconcile.concurrency'],
      [{ primary, secondary, reconcile: { giveUpAfterMs: -1 } }, 'reconcile.giveUpAfterMs'],
      [{ primary, secondary, reconcile: { closeDrainMs: 2 ** 31 } }, 'reconcile.closeDrainMs'],
      [{ primary, secondary, clock: { now: 5 } }, 'clock'],
    ];
    for (const [options, field] of cases) expect(invalidField(options)).toBe(field);
  });

  it('FallbackStore validates before doing anything', () => {
    const { primary, secondary } = pair();
    expect(() => new FallbackStore({ primary, secondary, timeoutMs: -5 })).toThrow(
      SessionValidationError,
    );
    const breaker = { kind: 'consecutive', treshold: 3 } as BreakerOptions;
    expect(configErrorField(() => new FallbackStore({ primary, secondary, breaker }))).toBe(
      'breaker.treshold',
    );
  });
});
