import { MAX_TIMER_MS, createOptionChecks, isOptionsObject } from '@session-cluster/core';
import type { OptionsOf, SessionError } from '@session-cluster/core';
import type { Redis, RedisOptions } from 'ioredis';

/**
 * One Redlock voter: a caller-owned ioredis `Redis` (not closed by the locker), or ioredis options
 * or a `redis://` URL (a client the locker owns). Never a Redis Cluster: it is one voter.
 */
export type RedlockNode = Redis | RedisOptions | string;

/** What a lock key prefix may contain: no braces (they would change the hash tag), no spaces. */
export const LOCK_PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Shortest lease accepted: below it the drift allowance eats the whole lease. */
export const MIN_LOCK_TTL_MS = 10;

const check = createOptionChecks('RedlockLocker');
const { invalid } = check;

/** True when `ttlMs` is a lease length the locker accepts. */
export const isValidLockTtl = (ttlMs: unknown): ttlMs is number =>
  Number.isSafeInteger(ttlMs) &&
  (ttlMs as number) >= MIN_LOCK_TTL_MS &&
  (ttlMs as number) <= MAX_TIMER_MS;

/** The server a node votes from (`host:port`), or the client itself: two nodes on one server vote twice. */
function serverOf(node: unknown, field: string): unknown {
  if (typeof node === 'string') {
    const url = URL.parse(node);
    if (url?.protocol !== 'redis:' && url?.protocol !== 'rediss:') {
      throw invalid(field, 'a redis:// or rediss:// URL');
    }
    return `${url.hostname}:${url.port === '' ? '6379' : url.port}`;
  }
  if (!isOptionsObject(node)) {
    throw invalid(field, 'an ioredis client, ioredis options or a redis:// URL');
  }
  // A Cluster is one voter whatever its size: quorum over it would look fault tolerant and not
  // be. Checked by the flag both ioredis classes carry, so it works across ioredis copies.
  if (node['isCluster'] === true) {
    throw invalid(field, 'an independent Redis node, not a Redis Cluster client');
  }
  if (typeof node['evalsha'] === 'function') return node;
  if ('sentinels' in node || 'cluster' in node) {
    throw invalid(field, 'options of one standalone Redis node');
  }
  if (typeof node['path'] === 'string') return node['path'];
  const host = check.string(node['host'], `${field}.host`) ?? 'localhost';
  // Named, not ioredis' 6379: a voter is one server, said in full.
  return `${host}:${check.integer(node['port'] ?? Number.NaN, `${field}.port`, 1, 65_535)}`;
}

function nodesOption(value: unknown, field: string): readonly RedlockNode[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw invalid(field, 'a non-empty array of Redis nodes');
  }
  const seen = new Set<unknown>();
  value.forEach((node, index) => {
    const server = serverOf(node, `${field}[${index}]`);
    // The same server twice would vote twice: quorum of {a, a, b} is a alone.
    if (seen.has(server)) throw invalid(`${field}[${index}]`, 'a server not listed before');
    seen.add(server);
  });
  return value as readonly RedlockNode[];
}

const RULES = {
  /** The voters: separate servers, not replicas; 1, or 3 or 5 (`floor(N/2)+1` must grant). */
  nodes: check.accepting<readonly RedlockNode[]>()(nodesOption),
  /** Namespace of lock keys (`<prefix>:lock:{<sid>}`): `^[A-Za-z0-9_.:-]{1,64}$`. Default `'sc'`. */
  prefix: check.matching(
    LOCK_PREFIX_PATTERN,
    'sc',
    '1 to 64 characters of A-Z a-z 0-9 _ . : - (no braces)',
  ),
  /** Default lease, ms, in [10, 2^31-1]. Default 10 000. */
  ttlMs: check.int(10_000, MIN_LOCK_TTL_MS, MAX_TIMER_MS),
  /** Retries while the lock is held elsewhere: ≥ 0, or -1 (default) until `acquireTimeoutMs`. */
  retryCount: check.int(-1, -1),
  /** Delay between acquisition attempts, ms (≥ 0). Default 50. */
  retryDelayMs: check.num(50, 0, MAX_TIMER_MS),
  /** Random spread around each delay, ms, in [0, retryDelayMs]. Default 25. */
  retryJitterMs: check.num(25, 0, MAX_TIMER_MS),
  /** Drift allowance in [0, 0.5): the lease ends `ttl × driftFactor + 2` ms before the keys. Default 0.01. */
  driftFactor: check.num(0.01, 0, 0.5, true),
  /** Bound on one `acquire` (local queueing, connecting, polling), ms. Default 5 000. */
  acquireTimeoutMs: check.int(5_000, 1, MAX_TIMER_MS),
  /** `using` extends the lease every half lease (default `true`); else its signal aborts when it ends. */
  autoExtend: check.flag(true),
  /** At most one waiter per session in this process polls Redis (default `true`; `false` to measure). */
  localQueue: check.flag(true),
  /** `commandTimeout` and `connectTimeout` of the clients the locker creates, ms. Default 1 000. */
  commandTimeoutMs: check.int(1_000, 1, MAX_TIMER_MS),
  /** Told of failures the locker absorbs (a release short of quorum, a failed auto-extension). */
  onError: check.fn<(error: SessionError) => void>(),
};

/** Options of {@link RedlockLocker}. */
export type RedlockLockerOptions = OptionsOf<typeof RULES>;
/** Defaults of {@link RedlockLockerOptions}. */
export const REDLOCK_DEFAULTS = check.defaults(RULES);

/** Check {@link RedlockLockerOptions} and apply defaults. @throws SessionValidationError `INVALID_CONFIG` */
export function resolveRedlockOptions(options: RedlockLockerOptions) {
  const resolved = check.resolve(RULES, options);
  // The jitter (the default one too) must not exceed the delay.
  if (resolved.retryJitterMs > resolved.retryDelayMs) {
    throw invalid('retryJitterMs', `a number in [0, ${resolved.retryDelayMs}]`);
  }
  return { ...resolved, onError: resolved.onError ?? (() => undefined) };
}
