import { MAX_TIMER_MS, createOptionChecks } from '@session-cluster/core';
import type { SessionError } from '@session-cluster/core';
import type { Redis, RedisOptions } from 'ioredis';

/**
 * One Redlock voter: a caller-owned ioredis `Redis` client (not closed by the
 * locker), ioredis options, or a `redis://` / `rediss://` URL. The locker
 * creates (and owns) a client for options and URLs.
 *
 * Never a Redis Cluster: a `Cluster` client is one voter however many masters
 * it has, so quorum over it protects nothing that one node would not.
 */
export type RedlockNode = Redis | RedisOptions | string;

/** Options of {@link RedlockLocker}. */
export interface RedlockLockerOptions {
  /**
   * The independent Redis nodes that vote. 1 for a simple setup (no fault
   * tolerance), 3 or 5 for quorum (`floor(N/2)+1` must grant). Each node must
   * be a separate Redis server (not replicas of one another).
   */
  readonly nodes: readonly RedlockNode[];
  /** Namespace of lock keys (`<prefix>:lock:{<sid>}`): `^[A-Za-z0-9_.:-]{1,64}$`. Default `'sc'`. */
  readonly prefix?: string | undefined;
  /** Default lease length, ms: an integer in [10, 2^31-1]. Default 10 000. */
  readonly ttlMs?: number | undefined;
  /**
   * Retries after the first acquisition attempt while the lock is held
   * elsewhere: an integer ≥ 0, or -1 for "until `acquireTimeoutMs`" (default).
   */
  readonly retryCount?: number | undefined;
  /** Delay between acquisition attempts, ms (≥ 0). Default 50. */
  readonly retryDelayMs?: number | undefined;
  /** Random spread added to or taken from each delay, ms, in [0, retryDelayMs]. Default 25. */
  readonly retryJitterMs?: number | undefined;
  /**
   * Clock drift allowance as a fraction of the lease (Redlock's drift
   * factor), in [0, 0.5). The lease is considered over `ttl × driftFactor + 2`
   * ms before the keys expire in Redis. Default 0.01.
   */
  readonly driftFactor?: number | undefined;
  /**
   * Upper bound on one `acquire`, ms, from the call to the lock (local
   * queueing, connecting and polling included). Default 5 000.
   */
  readonly acquireTimeoutMs?: number | undefined;
  /**
   * Whether `using` extends the lease while its routine runs (every half
   * lease). Default `true`. With `false` the routine has one lease and its
   * signal aborts when that lease runs out.
   */
  readonly autoExtend?: boolean | undefined;
  /**
   * Serialise waiters for the same session inside this process, so that at
   * most one of them polls Redis at a time (the others wait locally, first
   * come first served). Default `true`; `false` only for measurements.
   */
  readonly localQueue?: boolean | undefined;
  /**
   * `commandTimeout` (and `connectTimeout`) of the clients the locker
   * creates, ms, integer ≥ 1. Default 1 000. Ignored for caller-owned clients.
   */
  readonly commandTimeoutMs?: number | undefined;
  /**
   * Told about failures the locker absorbs instead of throwing: a release
   * that could not reach a quorum because nodes failed (the lease then runs
   * out by itself), an automatic extension that failed. Must not throw.
   */
  readonly onError?: ((error: SessionError) => void) | undefined;
}

/** Every option of {@link RedlockLockerOptions} checked, with its default applied. */
export type ResolvedRedlockOptions = ReturnType<typeof resolveRedlockOptions>;

/** Defaults of {@link RedlockLockerOptions}. */
export const REDLOCK_DEFAULTS = Object.freeze({
  prefix: 'sc',
  ttlMs: 10_000,
  retryCount: -1,
  retryDelayMs: 50,
  retryJitterMs: 25,
  driftFactor: 0.01,
  acquireTimeoutMs: 5_000,
  autoExtend: true,
  localQueue: true,
  commandTimeoutMs: 1_000,
});

/** What a lock key prefix may contain: no braces (they would change the hash tag), no spaces. */
export const LOCK_PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Shortest lease accepted: below it the drift allowance eats the whole lease. */
export const MIN_LOCK_TTL_MS = 10;

const check = createOptionChecks('RedlockLocker');
const { invalid } = check;

/** True when `ttlMs` is a lease length the locker accepts. */
export function isValidLockTtl(ttlMs: unknown): ttlMs is number {
  return (
    Number.isSafeInteger(ttlMs) &&
    (ttlMs as number) >= MIN_LOCK_TTL_MS &&
    (ttlMs as number) <= MAX_TIMER_MS
  );
}

function isClientLike(node: object): boolean {
  return 'evalsha' in node && typeof node.evalsha === 'function';
}

function validateNode(node: unknown, index: number): void {
  const field = `nodes[${index}]`;
  if (typeof node === 'string') {
    let url: URL;
    try {
      url = new URL(node);
    } catch (error) {
      throw invalid(field, 'a redis:// or rediss:// URL', error);
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      throw invalid(field, 'a redis:// or rediss:// URL');
    }
    return;
  }
  if (typeof node !== 'object' || node === null || Array.isArray(node)) {
    throw invalid(field, 'an ioredis client, ioredis options or a redis:// URL');
  }
  // A Cluster client counts as one voter whatever its size: quorum over it
  // would look fault tolerant and not be. Checked by the flag both ioredis
  // classes carry, so it works across duplicate ioredis copies.
  if ('isCluster' in node && node.isCluster === true) {
    throw invalid(field, 'an independent Redis node, not a Redis Cluster client');
  }
  if (!isClientLike(node) && ('sentinels' in node || 'cluster' in node)) {
    throw invalid(field, 'options of one standalone Redis node');
  }
}

/**
 * Apply defaults to {@link RedlockLockerOptions} and validate them.
 *
 * @throws SessionValidationError `INVALID_CONFIG` naming the offending field
 */
export function resolveRedlockOptions(options: RedlockLockerOptions) {
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw invalid('options', 'an options object');
  }
  const { nodes } = options;
  if (!Array.isArray(nodes) || nodes.length === 0) {
    throw invalid('nodes', 'a non-empty array of Redis nodes');
  }
  nodes.forEach(validateNode);
  // The same node twice would vote twice: quorum of {a, a, b} is a alone.
  const seen = new Set<unknown>();
  nodes.forEach((node, index) => {
    if (seen.has(node)) throw invalid(`nodes[${index}]`, 'a node not listed before');
    seen.add(node);
  });

  const prefix = options.prefix ?? REDLOCK_DEFAULTS.prefix;
  if (typeof prefix !== 'string' || !LOCK_PREFIX_PATTERN.test(prefix)) {
    throw invalid('prefix', '1 to 64 characters of A-Z a-z 0-9 _ . : - (no braces)');
  }
  const retryCount = check.integer(options.retryCount, 'retryCount', -1);
  const retryDelayMs =
    check.number(options.retryDelayMs, 'retryDelayMs', 0, MAX_TIMER_MS) ??
    REDLOCK_DEFAULTS.retryDelayMs;
  const driftFactor = options.driftFactor ?? REDLOCK_DEFAULTS.driftFactor;
  if (typeof driftFactor !== 'number' || !(driftFactor >= 0 && driftFactor < 0.5)) {
    throw invalid('driftFactor', 'a number in [0, 0.5)');
  }
  const onError = options.onError ?? (() => undefined);
  if (typeof onError !== 'function') throw invalid('onError', 'a function');
  return {
    nodes,
    prefix,
    ttlMs:
      check.integer(options.ttlMs, 'ttlMs', MIN_LOCK_TTL_MS, MAX_TIMER_MS) ??
      REDLOCK_DEFAULTS.ttlMs,
    retryCount: retryCount ?? REDLOCK_DEFAULTS.retryCount,
    retryDelayMs,
    // The default jitter too must not exceed a shorter delay.
    retryJitterMs: check.number(
      options.retryJitterMs ?? REDLOCK_DEFAULTS.retryJitterMs,
      'retryJitterMs',
      0,
      retryDelayMs,
    ) as number,
    driftFactor,
    acquireTimeoutMs:
      check.integer(options.acquireTimeoutMs, 'acquireTimeoutMs', 1, MAX_TIMER_MS) ??
      REDLOCK_DEFAULTS.acquireTimeoutMs,
    autoExtend: check.boolean(options.autoExtend, 'autoExtend') ?? REDLOCK_DEFAULTS.autoExtend,
    localQueue: check.boolean(options.localQueue, 'localQueue') ?? REDLOCK_DEFAULTS.localQueue,
    commandTimeoutMs:
      check.integer(options.commandTimeoutMs, 'commandTimeoutMs', 1, MAX_TIMER_MS) ??
      REDLOCK_DEFAULTS.commandTimeoutMs,
    onError,
  };
}
