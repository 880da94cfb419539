import type { IncomingMessage } from 'node:http';
import { SessionValidationError } from '@session-cluster/core';
import type { JsonValue, SessionData } from '@session-cluster/core';

/** What {@link RequestSession.load} returns: the session as this request sees it. */
export interface SessionSnapshot {
  /** Stored data with this request's uncommitted changes applied. Read-only: change it with `set`. */
  readonly data: Readonly<SessionData>;
  /** Owner, when the session is bound to a user (set by `regenerate({ userId })`). */
  readonly userId: string | undefined;
  /** Epoch ms; `undefined` while nothing is stored yet. */
  readonly createdAt: number | undefined;
  /** Epoch ms; `undefined` while nothing is stored yet. */
  readonly expiresAt: number | undefined;
}

/** Options of {@link RequestSession.regenerate}. */
export interface RegenerateSessionOptions {
  /** New owner (the user who just logged in); the current owner when absent. */
  readonly userId?: string | undefined;
}

/** Options of {@link RequestSession.destroyAllForUser}. */
export interface DestroyAllOptions {
  /** Keep this request's session ("log out my other devices"). Default `false`. */
  readonly keepCurrent?: boolean | undefined;
}

/**
 * `req.session`: the session of one request. Nothing is read until asked
 * for, nothing is stored until something is written, and changes are
 * tracked per top-level key and committed when the response starts, as one
 * atomic field-level patch — so parallel requests that change different keys
 * never lose each other's writes.
 *
 * Values returned by `get`/`load` belong to the session: change a value by
 * `set`ting the key again, not by mutating what was returned.
 *
 * @example
 * ```ts
 * app.post('/cart', async (req, res) => {
 *   const session = sessionOf(req);
 *   const cart = await session.update((data) => ({ ...data, cart: [...(data.cart as string[] ?? []), req.body.item] }));
 *   session.set('lastAdded', req.body.item);
 *   res.json(cart);
 * });
 * ```
 */
export interface RequestSession {
  /**
   * The session id, or `undefined` while no session is stored for this
   * request. A bearer secret: never log it, render it, or put it in a URL
   * (use {@link idHash}).
   */
  readonly id: string | undefined;
  /** `hashSessionId(id)`: safe for logs and pages. */
  readonly idHash: string | undefined;
  /** True while no stored session stands behind this request (yet). */
  readonly isNew: boolean;
  /** True when the manager serves from its in-memory fallback (sessions are instance-local). */
  readonly degraded: boolean;
  /** The session as this request sees it (loaded once, on first use). */
  load(): Promise<SessionSnapshot>;
  /** One value (this request's change if it made one). */
  get(key: string): Promise<JsonValue | undefined>;
  /**
   * Change one top-level key; committed when the response starts.
   * @throws SessionValidationError / SessionSerializationError for a key or value the store would refuse
   */
  set(key: string, value: JsonValue): void;
  /** Remove one top-level key; committed when the response starts. */
  unset(key: string): void;
  /**
   * Read-modify-write that never loses an update, done now: with
   * `lock: 'none'` the manager's compare-and-set `update` (the session lock
   * only when the session is contended, by default; `fn` may run more than
   * once, and on two instances at the same time: keep it pure); under `lock: 'request'` the request
   * already holds the lock and the result is committed with the response.
   * This request's pending changes are part of the data `fn` sees.
   * @returns the data as written
   */
  update(
    fn: (data: SessionData) => SessionData | Promise<SessionData>,
  ): Promise<Readonly<SessionData>>;
  /**
   * Move the session to a new id (call it at login, against session
   * fixation): same data, the old id gone for every instance. With a
   * `userId` the session is bound to that user (and stored even if empty).
   */
  regenerate(options?: RegenerateSessionOptions): Promise<void>;
  /** End the session now (logout): stored data deleted, cookie cleared. */
  destroy(): Promise<void>;
  /**
   * End every session of this session's user (log out everywhere), or every
   * other one with `keepCurrent`. @returns how many were deleted (0 without a user)
   */
  destroyAllForUser(options?: DestroyAllOptions): Promise<number>;
  /**
   * Commit pending changes now instead of when the response starts (before
   * streaming a response, say). Idempotent.
   */
  commit(): Promise<void>;
}

/**
 * `req.session`, typed, for apps that do not import the
 * `@session-cluster/express/augment` declarations (or that also use
 * `@types/express-session`, whose `req.session` type would clash).
 *
 * @throws SessionValidationError `INVALID_CONFIG` when `sessionMiddleware` did not run for `req`
 */
export function sessionOf(req: IncomingMessage): RequestSession {
  const session = (req as IncomingMessage & { session?: unknown }).session;
  if (typeof session !== 'object' || session === null || !('commit' in session)) {
    throw new SessionValidationError('req.session is missing: mount sessionMiddleware first', {
      code: 'INVALID_CONFIG',
      field: 'sessionMiddleware',
    });
  }
  return session as RequestSession;
}

/* The checks both kinds of request session (managed and sealed) make. */

/** @throws SessionValidationError `INVALID_ARGUMENT` unless `fn` is a function. */
export function assertMutator(fn: unknown): void {
  if (typeof fn !== 'function') {
    throw new SessionValidationError('fn: expected a function', {
      field: 'fn',
      operation: 'update',
    });
  }
}

/** @throws SessionValidationError `INVALID_ARGUMENT` unless `value` is a plain object (what `fn` must return). */
export function assertPlainData(value: unknown): asserts value is SessionData {
  const proto: unknown =
    typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    throw new SessionValidationError('update: fn must return the data as a plain object', {
      field: 'fn',
      operation: 'update',
    });
  }
}

/** A session that needs a new cookie cannot start once the headers are out. */
export function headersSentError(): SessionValidationError {
  return new SessionValidationError(
    'A new session cannot be stored after the response headers were sent: ' +
      'call `await req.session.commit()` before streaming the response',
    { operation: 'commit' },
  );
}
