import { hash } from 'node:crypto';
import { isValidSessionId } from '@session-cluster/core';
import type { JsonValue, SessionData } from '@session-cluster/core';

/**
 * The top-level key under which {@link SessionClusterStore} records, inside
 * each session it writes, the express-session id and the store's `prefix`
 * (`[prefix, sid]`). Store ids are a one-way function of the express-session
 * id (SHA-256 for most), so listing (`ids`, `all`, `length`, `clear`) reads
 * the real id from here. `get` never returns it.
 */
export const EXPRESS_SESSION_ID_KEY = '$expressSessionId';

/**
 * express-session's id → the store id it lives under.
 *
 * With the default empty `prefix`: an id this library could have generated
 * is used unchanged, anything else (uid-safe's 32 characters, any `genid`)
 * becomes its SHA-256 in base64url (43 characters, a valid store id). With a
 * `prefix`, always the SHA-256 of prefix and id, so stores with different
 * prefixes sharing one Redis never see each other's sessions.
 */
export function storeId(sid: string, prefix = ''): string {
  if (prefix === '' && isValidSessionId(sid)) return sid;
  const source = prefix === '' ? sid : `${prefix}\u0000${sid}`;
  return hash('sha256', source, 'base64url');
}

/** The id record {@link EXPRESS_SESSION_ID_KEY} holds. */
export function idRecord(prefix: string, sid: string): JsonValue {
  return [prefix, sid];
}

/** The express-session id recorded in stored data, when it was written with `prefix`. */
export function recordedId(data: SessionData, prefix: string): string | undefined {
  const recorded = data[EXPRESS_SESSION_ID_KEY];
  if (!Array.isArray(recorded) || recorded.length !== 2) return undefined;
  const [ownPrefix, sid] = recorded;
  return ownPrefix === prefix && typeof sid === 'string' ? sid : undefined;
}
