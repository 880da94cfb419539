import { toSessionError } from './errors.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_SESSION_ERROR_CATEGORY,
  ATTR_SESSION_ERROR_CODE,
  ATTR_SESSION_ERROR_RETRYABLE,
  ATTR_SESSION_ERROR_SEVERITY,
} from './semconv.js';
import { maskSessionIds } from './session-id.js';

/**
 * Span attributes describing a failure (`error.type`, `session.error.code`,
 * `.category`, `.severity`, `.retryable`): see {@link sessionErrorAttributes}.
 */
export type SessionErrorAttributes = Readonly<Record<string, string | boolean>>;

/**
 * What a span (or a log line) records about a failure: the `SessionError`
 * code (also as OTel's `error.type`), category, severity and retryability.
 * Anything that is not a `SessionError` is described as `INTERNAL`. A plain
 * object of strings and booleans, so it fits `span.setAttributes` without
 * this package depending on `@opentelemetry/api`.
 */
export function sessionErrorAttributes(error: unknown): SessionErrorAttributes {
  const sessionError = toSessionError(error);
  return {
    [ATTR_ERROR_TYPE]: sessionError.code,
    [ATTR_SESSION_ERROR_CODE]: sessionError.code,
    [ATTR_SESSION_ERROR_CATEGORY]: sessionError.category,
    [ATTR_SESSION_ERROR_SEVERITY]: sessionError.severity,
    [ATTR_SESSION_ERROR_RETRYABLE]: sessionError.retryable,
  };
}

/** An exception as a span records it (`span.recordException`): see {@link exceptionForSpan}. */
export interface SpanException {
  readonly name: string;
  readonly message: string;
  readonly code: string;
}

/**
 * The failure as `span.recordException` should see it: the class name, the
 * `SessionError` code, and the message with anything shaped like a session
 * id masked (messages of drivers and causes are not under our control).
 * No stack: the code, category and operation say where it came from.
 */
export function exceptionForSpan(error: unknown): SpanException {
  const sessionError = toSessionError(error);
  return {
    name: sessionError.name,
    message: maskSessionIds(sessionError.message),
    code: sessionError.code,
  };
}
