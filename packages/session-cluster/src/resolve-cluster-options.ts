import { createSessionCodec } from '@session-cluster/core';
import type { EncryptionKey, SessionCodec } from '@session-cluster/core';
import type { BreakerOptions } from '@session-cluster/fallback';
import { resolveManagerRetryOptions, resolveUpdateLockOptions } from '@session-cluster/manager';
import type { ManagerRetryOptions, ResolvedUpdateLockOptions } from '@session-cluster/manager';
import { KEY_PREFIX_PATTERN, MAX_BUCKETS, MIN_LOCK_TTL_MS } from '@session-cluster/store-redis';
import type { CorruptionInfo, RedlockNode } from '@session-cluster/store-redis';
import type { SessionClusterOptions, TelemetryOption } from './cluster-options.js';
import {
  MAX_TIMER_MS,
  boolean,
  integer,
  isObject,
  onlyKeys,
  positiveNumber,
  section,
} from './option-checks.js';
import { invalidOption, withOptionPath } from './option-path.js';
import { resolveLockNodes, resolveRedis } from './resolve-redis-option.js';
import type { StoreConnection } from './resolve-redis-option.js';

/** {@link SessionClusterOptions} checked, with what each part needs. */
export interface ResolvedClusterOptions {
  /** Exactly one of `client`/`connection`, as `RedisStore` takes it. */
  readonly storeConnection: StoreConnection;
  readonly commandTimeoutMs: number | undefined;
  readonly prefix: string | undefined;
  readonly buckets: number | undefined;
  readonly lockNodes: readonly RedlockNode[];
  readonly lockTtlMs: number | undefined;
  readonly lockAcquireTimeoutMs: number | undefined;
  readonly sessionTtlMs: number | undefined;
  readonly rolling: boolean | undefined;
  readonly retry: ManagerRetryOptions | undefined;
  readonly update: ResolvedUpdateLockOptions;
  readonly breaker: BreakerOptions | undefined;
  readonly fallback: {
    readonly enabled: boolean;
    readonly maxSessions: number | undefined;
    readonly timeoutMs: number | undefined;
  };
  readonly health: {
    readonly windowSize: number | undefined;
    readonly slowThresholdMs: number | undefined;
    readonly unhealthyBelowSuccessRate: number | undefined;
  };
  readonly codec: SessionCodec;
  readonly expiryGraceMs: number | undefined;
  /** `session.maxPerUser`, checked by RedisStore (`maxSessionsPerUser`). */
  readonly maxSessionsPerUser: number | undefined;
  readonly failFastOnCorruption: boolean | undefined;
  readonly onCorruption: ((info: CorruptionInfo) => void) | undefined;
  readonly frameFormat: 1 | 2 | 3 | undefined;
  /** The instance cache option as given (RedisStore checks it), `true` by default. */
  readonly cache: unknown;
  /** `false` when telemetry is off. */
  readonly telemetry: TelemetryOption | false;
}

const TOP_LEVEL_KEYS: readonly string[] = [
  'redis',
  'cache',
  'prefix',
  'buckets',
  'locks',
  'session',
  'retry',
  'update',
  'breaker',
  'fallback',
  'health',
  'codec',
  'telemetry',
] satisfies readonly (keyof SessionClusterOptions)[];

function resolveBreaker(value: unknown): BreakerOptions | undefined {
  // Mirrors FallbackStore's own checks (which run again at construction), so
  // that a bad breaker is refused before any connection is opened.
  if (value === undefined) return undefined;
  if (!isObject(value))
    throw invalidOption('breaker', "an object with kind 'consecutive' or 'sampling'");
  integer(value['halfOpenAfterMs'], 'breaker.halfOpenAfterMs', 1, MAX_TIMER_MS);
  switch (value['kind']) {
    case 'consecutive':
      onlyKeys(value, ['kind', 'threshold', 'halfOpenAfterMs'], 'breaker.');
      integer(value['threshold'], 'breaker.threshold', 1);
      break;
    case 'sampling': {
      onlyKeys(
        value,
        ['kind', 'threshold', 'durationMs', 'minimumRps', 'halfOpenAfterMs'],
        'breaker.',
      );
      const threshold = value['threshold'];
      if (
        threshold !== undefined &&
        (typeof threshold !== 'number' || !(threshold > 0 && threshold < 1))
      ) {
        throw invalidOption('breaker.threshold', 'a failure ratio in (0, 1)');
      }
      integer(value['durationMs'], 'breaker.durationMs', 100, MAX_TIMER_MS);
      positiveNumber(value['minimumRps'], 'breaker.minimumRps');
      break;
    }
    default:
      throw invalidOption('breaker.kind', "'consecutive' or 'sampling'");
  }
  return value as unknown as BreakerOptions;
}

/** What `codec` says about stored frames (format, corruption), as `RedisStore` takes it. */
function resolveStoredFrames(value: unknown): {
  failFastOnCorruption: boolean | undefined;
  onCorruption: ((info: CorruptionInfo) => void) | undefined;
  frameFormat: 1 | 2 | 3 | undefined;
} {
  const codec = section(value, 'codec');
  const failFastOnCorruption = boolean(codec['failFastOnCorruption'], 'codec.failFastOnCorruption');
  const onCorruption = codec['onCorruption'];
  if (onCorruption !== undefined && typeof onCorruption !== 'function') {
    throw invalidOption('codec.onCorruption', 'a function');
  }
  const frameFormat = codec['frameFormat'];
  if (frameFormat !== undefined && frameFormat !== 1 && frameFormat !== 2 && frameFormat !== 3) {
    throw invalidOption('codec.frameFormat', '1, 2 or 3');
  }
  return {
    failFastOnCorruption,
    onCorruption: onCorruption as ((info: CorruptionInfo) => void) | undefined,
    frameFormat,
  };
}

function resolveCodec(value: unknown): SessionCodec {
  const codec = section(value, 'codec');
  onlyKeys(
    codec,
    [
      'maxBytes',
      'encryptionKeys',
      'acceptPlaintext',
      'failFastOnCorruption',
      'onCorruption',
      'frameFormat',
    ],
    'codec.',
  );
  const maxBytes = integer(codec['maxBytes'], 'codec.maxBytes', 1);
  const keys = codec['encryptionKeys'];
  if (keys !== undefined && (!Array.isArray(keys) || keys.length === 0)) {
    throw invalidOption('codec.encryptionKeys', 'a non-empty array of { id, key }');
  }
  // The key ring's own checks name `encryption.keys[i].key`; ours is `codec.encryptionKeys[i].key`.
  return withOptionPath(
    (field) => `codec.${field.replace(/^encryption\.keys/, 'encryptionKeys')}`,
    () =>
      createSessionCodec({
        maxBytes,
        ...(keys === undefined ? {} : { encryption: { keys: keys as readonly EncryptionKey[] } }),
        acceptPlaintext: codec['acceptPlaintext'] as boolean | undefined,
      }),
  );
}

/**
 * Check every option of {@link createSessionCluster} — before anything is
 * constructed or connected — and derive what each part needs.
 *
 * @throws SessionValidationError `INVALID_CONFIG` whose `field` is the option
 *   path (`redis.url`, `locks.nodes[1]`, `breaker.threshold`, `codec.encryptionKeys[0].key`, …)
 */
export function resolveClusterOptions(input: SessionClusterOptions): ResolvedClusterOptions {
  const options: unknown = input;
  if (!isObject(options)) throw invalidOption('options', 'an options object');
  onlyKeys(options, TOP_LEVEL_KEYS, '');
  const redis = resolveRedis(options['redis']);

  const prefix = options['prefix'];
  if (prefix !== undefined && (typeof prefix !== 'string' || !KEY_PREFIX_PATTERN.test(prefix))) {
    throw invalidOption('prefix', '1 to 64 characters of A-Z a-z 0-9 _ . : - (no braces)');
  }
  const buckets = integer(options['buckets'], 'buckets', 1, MAX_BUCKETS);

  const locks = section(options['locks'], 'locks');
  onlyKeys(locks, ['nodes', 'ttlMs', 'acquireTimeoutMs'], 'locks.');
  const lockNodes = resolveLockNodes(locks['nodes'], redis);
  const lockTtlMs = integer(locks['ttlMs'], 'locks.ttlMs', MIN_LOCK_TTL_MS, MAX_TIMER_MS);
  const lockAcquireTimeoutMs = integer(
    locks['acquireTimeoutMs'],
    'locks.acquireTimeoutMs',
    1,
    MAX_TIMER_MS,
  );

  const session = section(options['session'], 'session');
  onlyKeys(session, ['ttlMs', 'rolling', 'expiryGraceMs', 'maxPerUser'], 'session.');
  const sessionTtlMs = integer(session['ttlMs'], 'session.ttlMs', 1);
  const rolling = boolean(session['rolling'], 'session.rolling');
  const expiryGraceMs = integer(
    session['expiryGraceMs'],
    'session.expiryGraceMs',
    0,
    Number.MAX_SAFE_INTEGER,
  );

  const retry = options['retry'];
  resolveManagerRetryOptions(retry);

  onlyKeys(
    section(options['update'], 'update'),
    ['lock', 'hotSessionTtlMs', 'maxHotSessions'],
    'update.',
  );
  const update = resolveUpdateLockOptions(options['update'], 'update');

  const breaker = resolveBreaker(options['breaker']);

  const fallback = section(options['fallback'], 'fallback');
  onlyKeys(fallback, ['enabled', 'maxSessions', 'timeoutMs'], 'fallback.');
  const enabled = boolean(fallback['enabled'], 'fallback.enabled') ?? true;
  const maxSessions = integer(fallback['maxSessions'], 'fallback.maxSessions', 1);
  const timeoutMs = integer(fallback['timeoutMs'], 'fallback.timeoutMs', 1, MAX_TIMER_MS);

  const health = section(options['health'], 'health');
  onlyKeys(health, ['windowSize', 'slowThresholdMs', 'unhealthyBelowSuccessRate'], 'health.');
  const windowSize = integer(health['windowSize'], 'health.windowSize', 1);
  const slowThresholdMs = positiveNumber(health['slowThresholdMs'], 'health.slowThresholdMs');
  const rate = health['unhealthyBelowSuccessRate'];
  if (rate !== undefined && (typeof rate !== 'number' || !(rate >= 0 && rate <= 1))) {
    throw invalidOption('health.unhealthyBelowSuccessRate', 'a number in [0, 1]');
  }

  return {
    storeConnection: redis.storeConnection,
    commandTimeoutMs: redis.commandTimeoutMs,
    prefix,
    buckets,
    lockNodes,
    lockTtlMs,
    lockAcquireTimeoutMs,
    sessionTtlMs,
    rolling,
    retry: retry as ManagerRetryOptions | undefined,
    update,
    breaker,
    fallback: { enabled, maxSessions, timeoutMs },
    health: { windowSize, slowThresholdMs, unhealthyBelowSuccessRate: rate },
    codec: resolveCodec(options['codec']),
    expiryGraceMs,
    maxSessionsPerUser: session['maxPerUser'] as number | undefined,
    ...resolveStoredFrames(options['codec']),
    telemetry: resolveTelemetry(options['telemetry']),
    cache: options['cache'] ?? true,
  };
}

function resolveTelemetry(value: unknown): TelemetryOption | false {
  if (value === false) return false;
  const telemetry = section(value, 'telemetry');
  onlyKeys(telemetry, ['meterProvider', 'activeSessions'], 'telemetry.');
  const provider = telemetry['meterProvider'];
  if (provider !== undefined && (!isObject(provider) || typeof provider['getMeter'] !== 'function')) {
    throw invalidOption('telemetry.meterProvider', 'an object with getMeter()');
  }
  boolean(telemetry['activeSessions'], 'telemetry.activeSessions');
  return telemetry;
}
