/**
 * The structured error hierarchy. Every failure that crosses a package
 * boundary is a {@link SessionError}: callers branch on `code` (or on the
 * subclass), never on message text.
 */

/** Every error code the session layer raises. Stable: part of the public API. */
export type SessionErrorCode =
  | 'SESSION_NOT_FOUND'
  | 'SESSION_EXPIRED'
  | 'SESSION_ALREADY_EXISTS'
  | 'SESSION_CORRUPTED'
  | 'STORAGE_UNAVAILABLE'
  | 'STORAGE_TIMEOUT'
  | 'LOCK_NOT_ACQUIRED'
  | 'LOCK_LOST'
  | 'VERSION_CONFLICT'
  | 'INVALID_SESSION_ID'
  | 'INVALID_ARGUMENT'
  | 'INVALID_CONFIG'
  | 'PAYLOAD_TOO_LARGE'
  | 'SERIALIZATION_FAILED'
  | 'ENCRYPTION_FAILED'
  | 'DECRYPTION_FAILED'
  | 'UNKNOWN_KEY_ID'
  | 'INTERNAL';

/** Who is at fault, broadly: drives logging and HTTP status mapping. */
export type SessionErrorCategory = 'client' | 'storage' | 'concurrency' | 'security' | 'internal';

/** How loud to be about it. */
export type SessionErrorSeverity = 'low' | 'medium' | 'high' | 'critical';

/** Options every {@link SessionError} constructor accepts. */
export interface SessionErrorOptions {
  /** The manager/store operation that failed (`load`, `save`, `update`, …). */
  readonly operation?: string | undefined;
  /** Short hash of the session id ({@link hashSessionId}); never the raw id. */
  readonly sessionIdHash?: string | undefined;
  /** The underlying error; normalised to an `Error` when something else was thrown. */
  readonly cause?: unknown;
  /** Free-form, log-safe details (no secrets, no raw ids). */
  readonly details?: Readonly<Record<string, unknown>> | undefined;
}

/** The stable JSON shape of an error, for logs and API responses. */
export interface SessionErrorJSON {
  readonly name: string;
  readonly code: SessionErrorCode;
  readonly category: SessionErrorCategory;
  readonly severity: SessionErrorSeverity;
  readonly retryable: boolean;
  readonly message: string;
  readonly operation?: string;
  readonly sessionIdHash?: string;
  readonly details?: Readonly<Record<string, unknown>>;
  readonly cause?: { readonly name: string; readonly message: string; readonly code?: string };
  readonly stack?: string;
}

interface CodeTraits {
  readonly category: SessionErrorCategory;
  readonly severity: SessionErrorSeverity;
  readonly retryable: boolean;
}

/**
 * The one table of what each code means. Retryability lives here, so a retry
 * policy can never disagree with the error that was thrown.
 */
export const SESSION_ERROR_TRAITS: Readonly<Record<SessionErrorCode, CodeTraits>> = {
  SESSION_NOT_FOUND: { category: 'client', severity: 'low', retryable: false },
  SESSION_EXPIRED: { category: 'client', severity: 'low', retryable: false },
  SESSION_ALREADY_EXISTS: { category: 'concurrency', severity: 'medium', retryable: false },
  SESSION_CORRUPTED: { category: 'storage', severity: 'high', retryable: false },
  STORAGE_UNAVAILABLE: { category: 'storage', severity: 'high', retryable: true },
  STORAGE_TIMEOUT: { category: 'storage', severity: 'high', retryable: true },
  LOCK_NOT_ACQUIRED: { category: 'concurrency', severity: 'medium', retryable: true },
  LOCK_LOST: { category: 'concurrency', severity: 'medium', retryable: true },
  VERSION_CONFLICT: { category: 'concurrency', severity: 'medium', retryable: true },
  INVALID_SESSION_ID: { category: 'client', severity: 'low', retryable: false },
  INVALID_ARGUMENT: { category: 'client', severity: 'low', retryable: false },
  INVALID_CONFIG: { category: 'client', severity: 'critical', retryable: false },
  PAYLOAD_TOO_LARGE: { category: 'client', severity: 'low', retryable: false },
  SERIALIZATION_FAILED: { category: 'client', severity: 'medium', retryable: false },
  ENCRYPTION_FAILED: { category: 'security', severity: 'critical', retryable: false },
  DECRYPTION_FAILED: { category: 'security', severity: 'high', retryable: false },
  UNKNOWN_KEY_ID: { category: 'security', severity: 'high', retryable: false },
  INTERNAL: { category: 'internal', severity: 'high', retryable: false },
};

function normaliseCause(cause: unknown): Error | undefined {
  if (cause === undefined) return undefined;
  if (cause instanceof Error) return cause;
  return new Error(typeof cause === 'string' ? cause : safeDescribe(cause));
}

function safeDescribe(value: unknown): string {
  try {
    // JSON.stringify returns undefined for undefined, functions and symbols.
    const json: unknown = JSON.stringify(value);
    return typeof json === 'string' ? json : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * Base class of every error the session layer raises.
 *
 * @example
 * ```ts
 * try { await manager.update(id, fn); }
 * catch (e) {
 *   if (isSessionError(e) && e.code === 'LOCK_NOT_ACQUIRED') res.status(409);
 * }
 * ```
 */
export class SessionError extends Error {
  /** Brand: survives duplicate package copies where `instanceof` does not. */
  public readonly isSessionError = true as const;
  public readonly code: SessionErrorCode;
  public readonly category: SessionErrorCategory;
  public readonly severity: SessionErrorSeverity;
  public readonly retryable: boolean;
  public readonly operation: string | undefined;
  public readonly sessionIdHash: string | undefined;
  public readonly details: Readonly<Record<string, unknown>> | undefined;
  declare public readonly cause: Error | undefined;

  public constructor(code: SessionErrorCode, message: string, options: SessionErrorOptions = {}) {
    const cause = normaliseCause(options.cause);
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    const traits = SESSION_ERROR_TRAITS[code];
    this.code = code;
    this.category = traits.category;
    this.severity = traits.severity;
    this.retryable = traits.retryable;
    this.operation = options.operation;
    this.sessionIdHash = options.sessionIdHash;
    this.details = options.details;
  }

  /**
   * Stable, log-safe shape. The stack is left out unless asked for, so an
   * API response never leaks it by accident.
   */
  public toJSON(options: { includeStack?: boolean } = {}): SessionErrorJSON {
    const cause = this.cause;
    const causeCode = cause !== undefined && 'code' in cause ? cause.code : undefined;
    return {
      name: this.name,
      code: this.code,
      category: this.category,
      severity: this.severity,
      retryable: this.retryable,
      message: this.message,
      ...(this.operation === undefined ? {} : { operation: this.operation }),
      ...(this.sessionIdHash === undefined ? {} : { sessionIdHash: this.sessionIdHash }),
      ...(this.details === undefined ? {} : { details: this.details }),
      ...(cause === undefined
        ? {}
        : {
            cause: {
              name: cause.name,
              message: cause.message,
              ...(typeof causeCode === 'string' ? { code: causeCode } : {}),
            },
          }),
      ...(options.includeStack === true && this.stack !== undefined ? { stack: this.stack } : {}),
    };
  }
}

/** The session does not exist (or no longer does). `get` returns `null` instead. */
export class SessionNotFoundError extends SessionError {
  public constructor(message = 'Session not found', options: SessionErrorOptions = {}) {
    super('SESSION_NOT_FOUND', message, options);
  }
}

/** The session existed but its expiry has passed. */
export class SessionExpiredError extends SessionError {
  public constructor(message = 'Session expired', options: SessionErrorOptions = {}) {
    super('SESSION_EXPIRED', message, options);
  }
}

/** Stored data failed its integrity check or could not be parsed. */
export class SessionCorruptedError extends SessionError {
  public constructor(message = 'Stored session is corrupted', options: SessionErrorOptions = {}) {
    super('SESSION_CORRUPTED', message, options);
  }
}

/** The backing store could not be reached or did not answer in time. Retryable. */
export class StorageUnavailableError extends SessionError {
  public constructor(
    message = 'Session storage unavailable',
    options: SessionErrorOptions & { readonly timeout?: boolean } = {},
  ) {
    super(options.timeout === true ? 'STORAGE_TIMEOUT' : 'STORAGE_UNAVAILABLE', message, options);
  }
}

/** Which concurrency failure a {@link ConcurrentAccessError} reports. */
export type ConcurrentAccessReason =
  'lock_not_acquired' | 'lock_lost' | 'version_conflict' | 'already_exists';

const REASON_CODES: Readonly<Record<ConcurrentAccessReason, SessionErrorCode>> = {
  lock_not_acquired: 'LOCK_NOT_ACQUIRED',
  lock_lost: 'LOCK_LOST',
  version_conflict: 'VERSION_CONFLICT',
  already_exists: 'SESSION_ALREADY_EXISTS',
};

/**
 * Another writer got there first: the lock was not granted, was lost
 * mid-flight, the stored version moved on (fencing), or a create collided.
 */
export class ConcurrentAccessError extends SessionError {
  public readonly reason: ConcurrentAccessReason;

  public constructor(
    reason: ConcurrentAccessReason,
    message: string,
    options: SessionErrorOptions = {},
  ) {
    super(REASON_CODES[reason], message, options);
    this.reason = reason;
  }
}

/** Input rejected before anything was stored: bad id, bad argument, bad config, too large. */
export class SessionValidationError extends SessionError {
  public constructor(
    message: string,
    options: SessionErrorOptions & {
      readonly code?:
        'INVALID_SESSION_ID' | 'INVALID_ARGUMENT' | 'INVALID_CONFIG' | 'PAYLOAD_TOO_LARGE';
      /** The offending field or option path, e.g. `redis.commandTimeout`. */
      readonly field?: string;
    } = {},
  ) {
    super(options.code ?? 'INVALID_ARGUMENT', message, {
      ...options,
      details: {
        ...options.details,
        ...(options.field === undefined ? {} : { field: options.field }),
      },
    });
  }

  /** The offending field or option path, when one is known. */
  public get field(): string | undefined {
    const field = this.details?.['field'];
    return typeof field === 'string' ? field : undefined;
  }
}

/** Session data that cannot be serialised (BigInt, cycles, functions, …). */
export class SessionSerializationError extends SessionError {
  public constructor(message: string, options: SessionErrorOptions = {}) {
    super('SERIALIZATION_FAILED', message, options);
  }
}

/** Encryption or decryption at rest failed, or the key id is not in the key ring. */
export class SessionEncryptionError extends SessionError {
  public constructor(
    message: string,
    options: SessionErrorOptions & {
      readonly code?: 'ENCRYPTION_FAILED' | 'DECRYPTION_FAILED' | 'UNKNOWN_KEY_ID';
    } = {},
  ) {
    super(options.code ?? 'DECRYPTION_FAILED', message, options);
  }
}

/**
 * True for any {@link SessionError}, including one from another copy of this
 * package (checked by brand, not `instanceof`).
 */
export function isSessionError(value: unknown): value is SessionError {
  return (
    value instanceof Error &&
    'isSessionError' in value &&
    (value as { isSessionError?: unknown }).isSessionError === true
  );
}

/** True when `value` is a {@link SessionError} whose code is retryable. */
export function isRetryableSessionError(value: unknown): value is SessionError {
  return isSessionError(value) && value.retryable;
}

/**
 * Normalise anything thrown into a {@link SessionError}. Session errors pass
 * through unchanged; anything else becomes `INTERNAL` with the original as `cause`.
 */
export function toSessionError(value: unknown, options: SessionErrorOptions = {}): SessionError {
  if (isSessionError(value)) return value;
  const message =
    value instanceof Error ? value.message : `Non-error thrown: ${safeDescribe(value)}`;
  return new SessionError('INTERNAL', message, { ...options, cause: value });
}
