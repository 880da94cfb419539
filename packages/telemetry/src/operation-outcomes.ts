import { hashSessionId } from '@session-cluster/core';
import type { SessionOperationName } from '@session-cluster/core';
import type { Span } from '@opentelemetry/api';
import {
  ATTR_SESSION_COUNT,
  ATTR_SESSION_FOUND,
  ATTR_SESSION_ID_HASH,
  ATTR_SESSION_NEW_ID_HASH,
  ATTR_SESSION_VERSION,
  OUTCOME_NOT_FOUND,
  OUTCOME_OK,
} from './semconv.js';
import type { SessionOutcome } from './semconv.js';

/** A session record as the manager returns it (only what spans record). */
interface RecordLike {
  readonly id: string;
  readonly version: number;
}

function isRecord(value: unknown): value is RecordLike {
  return typeof value === 'object' && value !== null && 'version' in value && 'id' in value;
}

function count(result: unknown): number {
  return typeof result === 'number' ? result : Array.isArray(result) ? result.length : 0;
}

/**
 * The outcome of a manager operation that returned `result`, and, when its
 * span records (`span` defined), what the result says as span attributes:
 * found or not and the version (`get`, `touch`, `delete`), the new id's
 * hash (`create`, `regenerate`), the version written (`update`, `patch`),
 * how many (`list_by_user`, `delete_by_user`, `cleanup_expired`).
 */
export function describeResult(
  operation: SessionOperationName,
  result: unknown,
  span: Span | undefined,
): SessionOutcome {
  switch (operation) {
    case 'get':
      span?.setAttribute(ATTR_SESSION_FOUND, result !== null);
      if (isRecord(result)) span?.setAttribute(ATTR_SESSION_VERSION, result.version);
      return result === null ? OUTCOME_NOT_FOUND : OUTCOME_OK;
    case 'create':
    case 'regenerate':
      if (span !== undefined && isRecord(result)) {
        span.setAttribute(
          operation === 'create' ? ATTR_SESSION_ID_HASH : ATTR_SESSION_NEW_ID_HASH,
          hashSessionId(result.id),
        );
        span.setAttribute(ATTR_SESSION_VERSION, result.version);
      }
      return OUTCOME_OK;
    case 'update':
    case 'patch':
      span?.setAttribute(
        ATTR_SESSION_VERSION,
        typeof result === 'number' ? result : isRecord(result) ? result.version : 0,
      );
      return OUTCOME_OK;
    case 'touch':
    case 'delete':
      span?.setAttribute(ATTR_SESSION_FOUND, result === true);
      return result === true ? OUTCOME_OK : OUTCOME_NOT_FOUND;
    case 'list_by_user':
    case 'delete_by_user':
    case 'cleanup_expired':
      span?.setAttribute(ATTR_SESSION_COUNT, count(result));
      return OUTCOME_OK;
    case 'lock':
      return OUTCOME_OK;
  }
}
