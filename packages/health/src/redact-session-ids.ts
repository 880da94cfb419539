import { maskSessionIds } from '@session-cluster/core';

/** Longest text kept from an error message or a degraded-mode reason. */
export const MAX_REPORTED_TEXT_LENGTH = 300;

/**
 * Make free text (an error message from some store or driver, a reason
 * string) safe for the health report: anything shaped like a session id
 * becomes `<sid:hash>` (the same short hash logs and spans use), and the
 * text is cut to {@link MAX_REPORTED_TEXT_LENGTH} characters.
 */
export function redactSessionIds(text: string): string {
  const redacted = maskSessionIds(text);
  return redacted.length > MAX_REPORTED_TEXT_LENGTH
    ? `${redacted.slice(0, MAX_REPORTED_TEXT_LENGTH - 1)}…`
    : redacted;
}
