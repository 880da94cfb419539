import { SpanStatusCode } from '@opentelemetry/api';
import type { Span } from '@opentelemetry/api';
import {
  exceptionForSpan,
  maskSessionIds,
  sessionErrorAttributes,
  toSessionError,
} from '@session-cluster/core';

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
