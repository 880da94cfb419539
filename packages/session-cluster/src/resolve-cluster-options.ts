import { createSessionCodec } from '@session-cluster/core';
import type { EncryptionKey, UncheckedOptions } from '@session-cluster/core';
import type { SessionClusterOptions, TelemetryOption } from './cluster-options.js';
import { boolean, isObject, section } from './option-checks.js';
import { invalidOption, withOptionPath } from './option-path.js';
import { resolveLockNodes, resolveRedis } from './resolve-redis-option.js';

/*
 * The options only the facade has: how to reach Redis (`redis`, whence the
 * default lock node), whether there is a fallback at all, and the
 * active-sessions gauge. Every other option belongs to one part, which
 * checks it when createSessionCluster builds it; createSessionCluster names
 * that part's error by the option path written here.
 */

/** Sections whose options go to several parts; the rest go whole to one part. */
type Section = 'locks' | 'session' | 'update' | 'fallback' | 'health' | 'codec' | 'telemetry';

/**
 * Every option createSessionCluster takes. The compiler holds this to
 * {@link SessionClusterOptions} (no key missing, none extra), so a typo in a
 * caller's options is an error here, not a silent default.
 */
const OPTION_KEYS: {
  readonly [K in keyof SessionClusterOptions]-?: K extends Section
    ? Record<keyof Exclude<SessionClusterOptions[K], false | undefined>, true>
    : true;
} = {
  redis: true,
  cache: true,
  prefix: true,
  buckets: true,
  retry: true,
  breaker: true,
  locks: { nodes: true, ttlMs: true, acquireTimeoutMs: true },
  session: { ttlMs: true, rolling: true, expiryGraceMs: true, maxPerUser: true },
  update: { lock: true, hotSessionTtlMs: true, maxHotSessions: true },
  fallback: { enabled: true, maxSessions: true, timeoutMs: true },
  health: { windowSize: true, slowThresholdMs: true, unhealthyBelowSuccessRate: true },
  codec: {
    maxBytes: true,
    encryptionKeys: true,
    acceptPlaintext: true,
    failFastOnCorruption: true,
    onCorruption: true,
    frameFormat: true,
  },
  telemetry: { meterProvider: true, activeSessions: true },
};

function refuseUnknown(value: UncheckedOptions, known: object, path: string): void {
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(known, key)) {
      throw invalidOption(
        `${path}${key}`,
        `no such option (expected one of ${Object.keys(known).join(', ')})`,
      );
    }
  }
}

/**
 * The facade's own options checked, and what it derives from them, before
 * anything is built or connected.
 *
 * @throws SessionValidationError `INVALID_CONFIG` whose `field` is the option
 *   path (`redis.url`, `locks.nodes[1]`, `colour`, `codec.encryptionKeys[0].key`, …)
 */
export function resolveClusterOptions(input: SessionClusterOptions) {
  const options: unknown = input;
  if (!isObject(options)) throw invalidOption('options', 'an options object');
  refuseUnknown(options, OPTION_KEYS, '');
  for (const [key, known] of Object.entries(OPTION_KEYS)) {
    if (known === true || (key === 'telemetry' && options[key] === false)) continue;
    refuseUnknown(section(options[key], key), known, `${key}.`);
  }
  const redis = resolveRedis(options['redis']);
  const codec = section(options['codec'], 'codec');
  const keys = codec['encryptionKeys'];
  const telemetry = options['telemetry'] as TelemetryOption | false | undefined;
  if (telemetry !== false) {
    // Only the facade uses these (the parts publish on SESSION_CHANNELS instead).
    boolean(telemetry?.activeSessions, 'telemetry.activeSessions');
    const provider: unknown = telemetry?.meterProvider;
    if (
      provider !== undefined &&
      (!isObject(provider) || typeof provider['getMeter'] !== 'function')
    ) {
      throw invalidOption('telemetry.meterProvider', 'an object with getMeter()');
    }
  }
  return {
    /** Exactly one of `client`/`connection`, as `RedisStore` takes it. */
    storeConnection: redis.storeConnection,
    commandTimeoutMs: redis.commandTimeoutMs,
    lockNodes: resolveLockNodes(section(options['locks'], 'locks')['nodes'], redis),
    fallbackEnabled:
      boolean(section(options['fallback'], 'fallback')['enabled'], 'fallback.enabled') ?? true,
    // The key ring's own checks name `encryption.keys[i].key`; ours is `codec.encryptionKeys[i].key`.
    codec: withOptionPath(
      (field) => `codec.${field.replace(/^encryption\.keys/, 'encryptionKeys')}`,
      () =>
        createSessionCodec({
          maxBytes: codec['maxBytes'] as number | undefined,
          ...(keys === undefined ? {} : { encryption: { keys: keys as readonly EncryptionKey[] } }),
          acceptPlaintext: codec['acceptPlaintext'] as boolean | undefined,
        }),
    ),
    /** `false` when telemetry is off. */
    telemetry: telemetry ?? {},
  };
}

/** {@link SessionClusterOptions} as far as the facade itself checks them. */
export type ResolvedClusterOptions = ReturnType<typeof resolveClusterOptions>;
