import {
  DEFAULT_RETRY_OPTIONS,
  SESSION_STORE_METHODS,
  createOptionChecks,
  isOptionsObject,
  resolveRetryOptions,
} from '@session-cluster/core';
import type {
  OptionsOf,
  RetryEvent,
  RetryOptions,
  SessionLocker,
  SessionStore,
} from '@session-cluster/core';
import type { HealthRecorder } from '@session-cluster/health';
import { UPDATE_LOCK_MODES } from './escalating-update.js';
import { MANAGER_OPERATIONS } from './operation-names.js';
import type { OperationName } from './operation-names.js';

/**
 * Retry settings: base values, and overrides per operation, for retryable `SessionError`s only.
 * @example
 * ```ts
 * { maxAttempts: 3, perOperation: { update: { maxAttempts: 10, baseDelayMs: 20 } } }
 * ```
 */
export interface ManagerRetryOptions extends Partial<RetryOptions> {
  /** Overrides per operation; unset fields keep the base values. */
  readonly perOperation?: Partial<Record<OperationName, Partial<RetryOptions>>> | undefined;
}

const check = createOptionChecks('SessionManager');
const LOCKER_METHODS = ['acquire', 'using', 'close'] satisfies (keyof SessionLocker)[];
const RECORDER = check.implementing<HealthRecorder>(
  ['record', 'setBreakerState', 'setDegraded'] satisfies (keyof HealthRecorder)[],
  'a HealthRecorder (record, setBreakerState, setDegraded)',
);
const UPDATE_RULES = {
  /**
   * `'on-conflict'` (default): compare-and-set, the lock only when contended; `'always'`: the
   * lock first. A call can override it.
   */
  lock: check.oneOf(UPDATE_LOCK_MODES, 'on-conflict'),
  /** How long a session whose update escalated takes the lock at once, ms (0: never). Default 2 000. */
  hotSessionTtlMs: check.int(2_000, 0),
  /** Most sessions remembered as hot per instance (the oldest mark goes first). Default 10 000. */
  maxHotSessions: check.int(10_000, 1),
};
const RULES = {
  /** Where sessions live. Closed by {@link SessionManager.close}. */
  store: check.implementing<SessionStore>(SESSION_STORE_METHODS, 'a SessionStore'),
  /** Per-session locks for `update` and `regenerate`. Closed by {@link SessionManager.close}. */
  locker: check.implementing<SessionLocker>(LOCKER_METHODS, 'a SessionLocker'),
  /** Told about every call (a `HealthMonitor`); must not throw. Absent: `health()` is `null`. */
  health: check.optional(RECORDER),
  /** Lifetime of a new session, and of a rolled one, ms. Positive integer, default 30 min. */
  ttlMs: check.int(30 * 60_000, 1),
  /** `touch`, `patch`, `update`, `regenerate` move the expiry to now + `ttlMs`. Default `true`. */
  rolling: check.flag(true),
  /** Lease of the session lock held by `update`/`regenerate`, ms (the locker's default when absent). */
  lockTtlMs: check.int(undefined, 1),
  /** Retry settings (core's defaults: 3 attempts, 100 ms then 200 ms ± 10 %). */
  retry: check.accepting<ManagerRetryOptions | undefined>()(resolveManagerRetryOptions),
  /** How `update` uses the session lock. Default `{ lock: 'on-conflict' }`. */
  update: check.section(UPDATE_RULES),
  /** Time source of expiries. Give the store the same clock. Default the system clock. */
  clock: check.clock,
  /** Called before each retry (the manager adds a span event itself). Must not throw. */
  onRetry: check.fn<(event: RetryEvent) => void>(),
  /** Publish each call on core's `SESSION_CHANNELS` (spans, metrics). Default `true`. */
  telemetry: check.flag(true),
};

/** How `update` uses the session lock (README, "Update lock modes"), e.g. `{ lock: 'always' }`. */
export type UpdateLockOptions = OptionsOf<typeof UPDATE_RULES>;
/** Defaults of {@link UpdateLockOptions}. */
export const UPDATE_LOCK_DEFAULTS = check.defaults(UPDATE_RULES);
/** Options of {@link SessionManager}. */
export type SessionManagerOptions = OptionsOf<typeof RULES>;
const { ttlMs, rolling } = check.defaults(RULES);
/** Defaults of {@link SessionManagerOptions}: the session's lifetime. */
export const SESSION_MANAGER_DEFAULTS = Object.freeze({ ttlMs, rolling });

/** Each operation's retry settings: its overrides over the base, over core's defaults. */
function resolveManagerRetryOptions(value: unknown): Record<OperationName, RetryOptions> {
  if (value !== undefined && !isOptionsObject(value)) throw check.invalid('retry', 'an object');
  const { perOperation, ...base } = (value ?? {}) as ManagerRetryOptions;
  const resolvedBase = resolveRetryOptions(DEFAULT_RETRY_OPTIONS, base, 'retry', check);
  const overBase = (override: unknown, path: string): RetryOptions =>
    resolveRetryOptions(resolvedBase, override as Partial<RetryOptions> | undefined, path, check);
  const rules = Object.fromEntries(MANAGER_OPERATIONS.map((operation) => [operation, overBase]));
  return check.resolve(rules, perOperation ?? {}, 'retry.perOperation.') as Record<
    OperationName,
    RetryOptions
  >;
}

/** Check {@link SessionManagerOptions} and apply defaults. @throws SessionValidationError `INVALID_CONFIG` */
export function resolveManagerOptions(options: SessionManagerOptions) {
  return check.resolve(RULES, options);
}
