import {
  ATTR_SESSION_COUNT,
  ATTR_SESSION_FOUND,
  ATTR_SESSION_ID_HASH,
  ATTR_SESSION_NEW_ID_HASH,
  ATTR_SESSION_VERSION,
  OUTCOME_NOT_FOUND,
  OUTCOME_OK,
  hashSessionId,
} from '@session-cluster/core';
import type { SessionOutcome, SessionRecord } from '@session-cluster/core';
import type { Span } from '@opentelemetry/api';

/**
 * Turns an operation's result into its outcome, and, when the operation's
 * span records (`span` defined), into span attributes. Module-level
 * functions, so passing one allocates nothing.
 */
export type OutcomeOf<T> = (result: T, span: Span | undefined) => SessionOutcome;

/** `get`: found or not, and the version read. */
export function foundOutcome(record: SessionRecord | null, span: Span | undefined): SessionOutcome {
  span?.setAttribute(ATTR_SESSION_FOUND, record !== null);
  if (record !== null) span?.setAttribute(ATTR_SESSION_VERSION, record.version);
  return record === null ? OUTCOME_NOT_FOUND : OUTCOME_OK;
}

/** `create`: the new session's id hash (no id was known when the span started) and version. */
export function createdOutcome(record: SessionRecord, span: Span | undefined): SessionOutcome {
  span?.setAttribute(ATTR_SESSION_ID_HASH, hashSessionId(record.id));
  span?.setAttribute(ATTR_SESSION_VERSION, record.version);
  return OUTCOME_OK;
}

/** `regenerate`: the new id's hash beside the old one's. */
export function regeneratedOutcome(record: SessionRecord, span: Span | undefined): SessionOutcome {
  span?.setAttribute(ATTR_SESSION_NEW_ID_HASH, hashSessionId(record.id));
  span?.setAttribute(ATTR_SESSION_VERSION, record.version);
  return OUTCOME_OK;
}

/** `update` (a record) and `patch` (a version): the version written. */
export function writtenOutcome(
  result: SessionRecord | number,
  span: Span | undefined,
): SessionOutcome {
  span?.setAttribute(ATTR_SESSION_VERSION, typeof result === 'number' ? result : result.version);
  return OUTCOME_OK;
}

/** `touch` and `delete`: false means there was no live session. */
export function existedOutcome(existed: boolean, span: Span | undefined): SessionOutcome {
  span?.setAttribute(ATTR_SESSION_FOUND, existed);
  return existed ? OUTCOME_OK : OUTCOME_NOT_FOUND;
}

/** `listByUser` (records), `deleteByUser` and `cleanupExpired` (counts): how many. */
export function countedOutcome(
  result: readonly unknown[] | number,
  span: Span | undefined,
): SessionOutcome {
  span?.setAttribute(ATTR_SESSION_COUNT, typeof result === 'number' ? result : result.length);
  return OUTCOME_OK;
}
