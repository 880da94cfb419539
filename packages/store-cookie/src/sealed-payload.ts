import {
  SessionCorruptedError,
  isValidSessionId,
  isValidUserId,
  parseStoredJson,
} from '@session-cluster/core';
import type { SessionData } from '@session-cluster/core';

/** A session as it travels sealed in a cookie. */
export interface SealedSession {
  /** A session id (`generateSessionId`): identifies the session in logs (hashed) and across regenerate. */
  readonly id: string;
  /** Owner, when bound to a user. */
  readonly userId: string | undefined;
  readonly data: SessionData;
  /** Epoch ms. */
  readonly createdAt: number;
  /** Epoch ms after which the seal no longer opens. */
  readonly expiresAt: number;
}

/**
 * Parse decrypted plaintext (`{"i","u"?,"c","e","d"}`) into a session. The
 * text authenticated, so it was written by a key holder; the shape is still
 * checked, because a key holder's older release may have written another.
 * @throws SessionCorruptedError when the shape is wrong
 * @throws SyntaxError on bad JSON or a forbidden key (the caller wraps it)
 */
export function parseSealedPayload(plaintext: string): SealedSession {
  const value = parseStoredJson(plaintext);
  const corrupted = (reason: string): SessionCorruptedError =>
    new SessionCorruptedError(`The sealed session has the wrong shape: ${reason}`, {
      operation: 'open',
    });
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw corrupted('not an object');
  }
  const { i, u, c, e, d } = value;
  if (!isValidSessionId(i)) throw corrupted('bad id');
  if (u !== undefined && !isValidUserId(u)) throw corrupted('bad owner');
  if (typeof c !== 'number' || !Number.isSafeInteger(c)) throw corrupted('bad createdAt');
  if (typeof e !== 'number' || !Number.isSafeInteger(e)) throw corrupted('bad expiresAt');
  if (typeof d !== 'object' || d === null || Array.isArray(d)) throw corrupted('bad data');
  return { id: i, userId: u, data: d, createdAt: c, expiresAt: e };
}
