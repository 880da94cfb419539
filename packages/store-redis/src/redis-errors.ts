import { performance } from 'node:perf_hooks';
import {
  SessionError,
  StorageUnavailableError,
  hashSessionId,
  isSessionError,
} from '@session-cluster/core';

/**
 * Redis error replies (by their prefix token) that mean "the data store cannot
 * serve this right now", not "this command is wrong": a cluster resharding or
 * failing over, a replica promoted or still loading, memory full, a script
 * busy, an auth change. They become {@link StorageUnavailableError} (retryable),
 * so the retry policy and the fallback's breaker see an outage.
 */
export const UNAVAILABLE_REPLY_PREFIXES: ReadonlySet<string> = new Set([
  'CLUSTERDOWN',
  'TRYAGAIN',
  'LOADING',
  'READONLY',
  'MASTERDOWN',
  'MOVED',
  'ASK',
  'BUSY',
  'OOM',
  'NOREPLICAS',
  'MISCONF',
  'NOAUTH',
  'WRONGPASS',
]);

/**
 * Error classes of ioredis and its `redis-errors` dependency that mean the
 * command never got (or lost) its answer: the connection closed, retries ran
 * out, every cluster node failed.
 */
const TRANSPORT_ERROR_NAMES: ReadonlySet<string> = new Set([
  'AbortError',
  'InterruptError',
  'MaxRetriesPerRequestError',
  'ClusterAllFailedError',
  'ParserError',
  'RedisError',
]);

/** Where and how long a failed Redis call ran, for {@link toStoreError}. */
export interface RedisCallContext {
  readonly operation: string;
  readonly sessionIdHash?: string | undefined;
  /** Wall time the call took before it failed. */
  readonly elapsedMs: number;
  /** The client's `commandTimeout`: a connection-level failure this late is a timeout. */
  readonly commandTimeoutMs: number;
}

/** Properties of a client error that are safe to keep in a cause: they name what failed, never what was sent. */
const SAFE_CAUSE_PROPERTIES = ['code', 'errno', 'syscall'] as const;

/**
 * A copy of a client error that is safe to log and inspect: its name,
 * message, stack and `code` / `errno` / `syscall`, and its own cause made
 * safe the same way — nothing else. ioredis attaches the failed command to
 * its errors (`command.args`: session keys, which hold the raw id, and
 * values, which hold session data), and `util.inspect`, pino's `err`
 * serializer and `console.error` print every own property of a cause, so
 * the original must not travel. The messages kept are Redis' and Node's own
 * (a reply's text, `Command timed out`, `connect ECONNREFUSED …`): they do
 * not repeat a command's arguments.
 */
export function redactedCause(error: Error, depth = 0): Error {
  const copy = new Error(error.message);
  copy.name = error.name;
  if (error.stack !== undefined) copy.stack = error.stack;
  const source = error as unknown as Record<string, unknown>;
  const target = copy as unknown as Record<string, unknown>;
  for (const key of SAFE_CAUSE_PROPERTIES) {
    const value = source[key];
    if (typeof value === 'string' || typeof value === 'number') target[key] = value;
  }
  if (depth < 4 && error.cause instanceof Error) {
    Object.defineProperty(copy, 'cause', {
      value: redactedCause(error.cause, depth + 1),
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
  return copy;
}

/**
 * {@link redactedCause} for anything thrown: redlock's errors carry their
 * `attempts` (every node's vote, with the ioredis client — options,
 * password — and the lock resource, which holds the session id), so they
 * never travel as they are. Session errors are ours and already safe.
 */
export function safeCause(cause: unknown): unknown {
  if (cause === undefined || isSessionError(cause)) return cause;
  return cause instanceof Error ? redactedCause(cause) : new Error('non-error thrown');
}

/** The leading token of a Redis error reply (`CLUSTERDOWN The cluster is down` → `CLUSTERDOWN`). */
export function replyPrefix(message: string): string {
  const space = message.indexOf(' ');
  return space < 0 ? message : message.slice(0, space);
}

/**
 * Map anything a Redis call threw to a {@link SessionError}, with the
 * original as `cause`, redacted ({@link redactedCause}): nothing from
 * ioredis escapes unwrapped, and no session id or data rides along.
 *
 * Decided by error class name and, for Redis error replies, by the reply's
 * prefix token; never by the rest of a message. ioredis raises connection
 * failures (offline queue disabled, connection closed, command timed out) as
 * plain `Error`s without a class or code of their own, so those are told
 * apart by what they are not (no reply, no programming error) and a command
 * timeout by its duration: a plain `Error` after at least `commandTimeoutMs`.
 *
 * - session errors pass through unchanged;
 * - error replies in {@link UNAVAILABLE_REPLY_PREFIXES} → `STORAGE_UNAVAILABLE`;
 *   other replies (`ERR`, `WRONGTYPE`, `NOSCRIPT`, a Lua error) → `INTERNAL`;
 * - connection/transport errors, Node socket errors (`ECONNREFUSED`, …) →
 *   `STORAGE_UNAVAILABLE`, or `STORAGE_TIMEOUT` for a command timeout;
 * - anything else (a `TypeError`, a non-error) → `INTERNAL`.
 */
export function toStoreError(error: unknown, context: RedisCallContext): SessionError {
  if (isSessionError(error)) return error;
  const where = { operation: context.operation, sessionIdHash: context.sessionIdHash };
  if (!(error instanceof Error)) {
    // Not the value itself as the cause: it may be anything, data included.
    return new SessionError('INTERNAL', 'Redis call failed with a non-error value', {
      ...where,
      details: { thrown: typeof error },
    });
  }
  const cause = redactedCause(error);

  if (error.name === 'ReplyError') {
    const prefix = replyPrefix(error.message);
    if (UNAVAILABLE_REPLY_PREFIXES.has(prefix)) {
      return new StorageUnavailableError(`Redis cannot serve ${context.operation} (${prefix})`, {
        ...where,
        cause,
        details: { reply: prefix },
      });
    }
    return new SessionError('INTERNAL', `Redis rejected ${context.operation} (${prefix})`, {
      ...where,
      cause,
      details: { reply: prefix },
    });
  }

  if (TRANSPORT_ERROR_NAMES.has(error.name)) {
    return new StorageUnavailableError(`Redis connection failed during ${context.operation}`, {
      ...where,
      cause,
      details: { error: error.name },
    });
  }

  if (Object.getPrototypeOf(error) === Error.prototype || isSystemError(error)) {
    // +1: elapsed is measured around the call, the timer inside it; both round.
    const timeout = context.elapsedMs + 1 >= context.commandTimeoutMs;
    return new StorageUnavailableError(
      timeout
        ? `Redis did not answer ${context.operation} within ${context.commandTimeoutMs} ms`
        : `Redis unreachable during ${context.operation}`,
      {
        ...where,
        cause,
        timeout,
        details: { elapsedMs: Math.round(context.elapsedMs) },
      },
    );
  }

  return new SessionError('INTERNAL', `Unexpected failure during ${context.operation}`, {
    ...where,
    cause,
  });
}

/** A Node.js system error (`ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`, …). */
function isSystemError(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  const syscall = (error as { syscall?: unknown }).syscall;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) && typeof syscall === 'string';
}

/**
 * Run one Redis call, timed; whatever it throws leaves as a
 * {@link SessionError} ({@link toStoreError}, with the time it took). The
 * session id is hashed only on failure: the call itself is a hot path.
 */
export async function storeCall<T>(
  context: {
    readonly operation: string;
    readonly sessionId?: string | undefined;
    readonly commandTimeoutMs: number;
  },
  send: () => Promise<T>,
): Promise<T> {
  const started = performance.now();
  try {
    return await send();
  } catch (error) {
    const { operation, sessionId, commandTimeoutMs } = context;
    throw toStoreError(error, {
      operation,
      sessionIdHash: sessionId === undefined ? undefined : hashSessionId(sessionId),
      elapsedMs: performance.now() - started,
      commandTimeoutMs,
    });
  }
}
