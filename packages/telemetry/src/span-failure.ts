import { SpanStatusCode } from '@opentelemetry/api';
import type { Span } from '@opentelemetry/api';
import { maskSessionIds, toSessionError } from '@session-cluster/core';
import {
  ATTR_ERROR_TYPE,
  ATTR_SESSION_ERROR_CATEGORY,
  ATTR_SESSION_ERROR_CODE,
  ATTR_SESSION_ERROR_RETRYABLE,
  ATTR_SESSION_ERROR_SEVERITY,
} from './semconv.js';

/**
 * Span attributes describing a failure (`error.type`, `session.error.code`,
 * `.category`, `.severity`, `.retryable`): see {@link sessionErrorAttributes}.
 */
export type SessionErrorAttributes = Readonly<Record<string, string | boolean>>;

/**
 * What a span (or a log line) records about a failure: the `SessionError`
 * code (also as OTel's `error.type`), category, severity and retryability.
 * Anything that is not a `SessionError` is described as `INTERNAL`. A plain
 * object of strings and booleans, so it fits `span.setAttributes`.
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

/**
 * Mark a recording `span` failed: status ERROR, the `SessionError` code,
 * category, severity and retryability as attributes, and the exception
 * (message with session ids masked, no stack).
 */
export function markSpanFailed(span: Span, error: unknown): void {
  const sessionError = toSessionError(error);
  span.setAttributes(sessionErrorAttributes(sessionError));
  span.recordException(exceptionForSpan(sessionError));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: `${sessionError.code}: ${maskSessionIds(sessionError.message)}`,
  });
}
