import { hashSessionId } from '@session-cluster/core';

// A token shaped exactly like a generated session id (43 base64url chars,
// canonical last char) and not part of a longer base64url run.
const SESSION_ID_TOKEN = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048](?![A-Za-z0-9_-])/g;

/** Longest text kept from an error message or a degraded-mode reason. */
export const MAX_REPORTED_TEXT_LENGTH = 300;

/**
 * Make free text (an error message from some store or driver, a reason
 * string) safe for the health report: anything shaped like a session id
 * becomes `<sid:hash>` (the same short hash logs and spans use), and the
 * text is cut to {@link MAX_REPORTED_TEXT_LENGTH} characters.
 */
export function redactSessionIds(text: string): string {
  const redacted = text.replace(SESSION_ID_TOKEN, (id) => `<sid:${hashSessionId(id)}>`);
  return redacted.length > MAX_REPORTED_TEXT_LENGTH
    ? `${redacted.slice(0, MAX_REPORTED_TEXT_LENGTH - 1)}…`
    : redacted;
}
