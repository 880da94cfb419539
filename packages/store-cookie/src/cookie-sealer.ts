import {
  SessionCorruptedError,
  SessionExpiredError,
  SessionValidationError,
  assertValidSessionId,
  assertValidUserId,
  createKeyRing,
  createOptionChecks,
  createSessionCodec,
  hashSessionId,
  isSessionError,
  openWithKeyRing,
  sealWithKeyRing,
  systemClock,
  MIN_SEALED_BYTES,
} from '@session-cluster/core';
import type { Clock, EncryptionKey, KeyRing, SessionCodec } from '@session-cluster/core';
import { parseSealedPayload } from './sealed-payload.js';
import type { SealedSession } from './sealed-payload.js';

/** Options of {@link CookieSealer}. */
export interface CookieSealerOptions {
  /**
   * AES-256-GCM keys: the first seals, any opens (found by the key id in the
   * cookie). Rotate by putting a new key first and keeping the old ones for
   * one session lifetime.
   */
  readonly keys: readonly EncryptionKey[];
  /**
   * The cookie's name. It is bound into every seal (as AES-GCM associated
   * data), so a value moved to another cookie does not open. Default `sc.sess`.
   */
  readonly cookieName?: string | undefined;
  /**
   * Largest `name=value` a seal may produce, bytes. Browsers keep at most
   * about 4096 bytes per cookie and drop larger ones silently; refusing
   * loudly here is the point. Default 4096.
   */
  readonly maxCookieBytes?: number | undefined;
  /** Source of `now` for expiry checks. Default the system clock. */
  readonly clock?: Clock | undefined;
}

/** Defaults of {@link CookieSealerOptions}. */
export const COOKIE_SEALER_DEFAULTS = Object.freeze({
  cookieName: 'sc.sess',
  maxCookieBytes: 4096,
});

/** Format tag of every sealed value: `v1.<keyId>.<base64url(iv | tag | ciphertext)>`. */
const FORMAT = 'v1';
const COOKIE_NAME_PATTERN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * Stateless sessions sealed in a cookie: the whole session (id, owner, data,
 * creation and expiry times) as JSON, encrypted and authenticated with
 * AES-256-GCM under a key ring. Nothing is stored on the server, so nothing
 * can be listed or revoked there: a sealed value stays valid until the
 * expiry inside it (rotate the keys to cut every session off at once).
 *
 * Data is validated exactly as the server-side stores validate it (the core
 * codec: JSON-safe values, no `__proto__`/`constructor`/`prototype` keys,
 * bounded depth), and the sealed cookie must fit in `maxCookieBytes`.
 *
 * @example
 * ```ts
 * const sealer = new CookieSealer({ keys: [{ id: '2025-06', key: process.env.COOKIE_KEY! }] });
 * const value = sealer.seal({ id: generateSessionId(), userId: undefined, data: { cart: [] },
 *   createdAt: Date.now(), expiresAt: Date.now() + 3_600_000 });
 * const session = sealer.open(value); // throws on tamper, unknown key or expiry
 * ```
 */
export class CookieSealer {
  /** The cookie name bound into every seal. */
  public readonly cookieName: string;
  /** Largest `name=value` a seal may produce, bytes. */
  public readonly maxCookieBytes: number;

  private readonly ring: KeyRing;
  private readonly codec: SessionCodec;
  private readonly clock: Clock;
  private readonly aad: string;

  /** @throws SessionValidationError `INVALID_CONFIG` naming the bad option (`keys[0].key`, …) */
  public constructor(options: CookieSealerOptions) {
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw invalid('options', 'expected an options object');
    }
    this.ring = createKeyRing({ keys: options.keys }, 'cookie');
    const cookieName = options.cookieName ?? COOKIE_SEALER_DEFAULTS.cookieName;
    if (typeof cookieName !== 'string' || !COOKIE_NAME_PATTERN.test(cookieName)) {
      throw invalid('cookieName', 'expected 1 to 64 cookie-name characters (RFC 6265 token)');
    }
    const maxCookieBytes = options.maxCookieBytes ?? COOKIE_SEALER_DEFAULTS.maxCookieBytes;
    if (!Number.isSafeInteger(maxCookieBytes) || maxCookieBytes < 256) {
      throw invalid('maxCookieBytes', 'expected an integer >= 256');
    }
    const clock = options.clock ?? systemClock;
    if (typeof clock !== 'object' || typeof (clock as Partial<Clock>).now !== 'function') {
      throw invalid('clock', 'expected an object with a now() method');
    }
    this.cookieName = cookieName;
    this.maxCookieBytes = maxCookieBytes;
    this.clock = clock;
    // Validation only: the codec's per-field output is thrown away. Its
    // limit is the cookie size, so the codec's own byte limit never binds first.
    this.codec = createSessionCodec({ maxBytes: 1 << 20 });
    this.aad = `session-cluster:cookie:${FORMAT}:${cookieName}`;
  }

  /**
   * Seal a session into a cookie value (`v1.<keyId>.<base64url>`).
   *
   * @throws SessionValidationError `INVALID_SESSION_ID` / `INVALID_ARGUMENT` for a bad id,
   *   owner, time or data key; `PAYLOAD_TOO_LARGE` when `name=value` would exceed
   *   `maxCookieBytes` (details `{ bytes, maxCookieBytes }`)
   * @throws SessionSerializationError for values JSON cannot carry
   */
  public seal(session: SealedSession): string {
    assertValidSessionId(session.id, 'seal');
    if (session.userId !== undefined) assertValidUserId(session.userId, 'seal');
    for (const field of ['createdAt', 'expiresAt'] as const) {
      const value = session[field];
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new SessionValidationError(`${field}: expected epoch ms`, {
          field,
          operation: 'seal',
        });
      }
    }
    // Same rules as every server-side store; throws the same typed errors.
    this.codec.encodeData(session.id, session.data);
    const json = JSON.stringify({
      i: session.id,
      ...(session.userId === undefined ? {} : { u: session.userId }),
      c: session.createdAt,
      e: session.expiresAt,
      d: session.data,
    });
    const value = `${FORMAT}.${this.ring.primaryId}.${sealWithKeyRing(this.ring, this.aad, json)}`;
    const bytes = Buffer.byteLength(this.cookieName) + 1 + value.length;
    if (bytes > this.maxCookieBytes) {
      throw new SessionValidationError(
        `The sealed session cookie would be ${bytes} bytes, over the limit of ${this.maxCookieBytes}: ` +
          'keep less in a cookie session, or use the Redis store',
        {
          code: 'PAYLOAD_TOO_LARGE',
          field: 'data',
          operation: 'seal',
          sessionIdHash: hashSessionId(session.id),
          details: { bytes, maxCookieBytes: this.maxCookieBytes },
        },
      );
    }
    return value;
  }

  /**
   * Open a cookie value made by {@link seal}.
   *
   * @throws SessionCorruptedError when the value is not a seal of this format, or
   *   its plaintext is not a session
   * @throws SessionEncryptionError `UNKNOWN_KEY_ID` when its key is not in the ring
   *   (retired); `DECRYPTION_FAILED` when the GCM tag does not verify (tampered,
   *   or sealed for another cookie name)
   * @throws SessionExpiredError when the expiry inside the seal has passed
   */
  public open(value: string): SealedSession {
    const sealed = splitSeal(value);
    const plaintext = openWithKeyRing(this.ring, sealed.keyId, this.aad, sealed.bytes);
    let session: SealedSession;
    try {
      session = parseSealedPayload(plaintext);
    } catch (cause) {
      if (isSessionError(cause)) throw cause;
      throw new SessionCorruptedError('The sealed session is not valid JSON', {
        operation: 'open',
        cause,
      });
    }
    if (session.expiresAt <= this.clock.now()) {
      throw new SessionExpiredError(undefined, {
        operation: 'open',
        sessionIdHash: hashSessionId(session.id),
      });
    }
    return session;
  }
}

function splitSeal(value: unknown): { keyId: string; bytes: Buffer } {
  const corrupted = (reason: string): SessionCorruptedError =>
    new SessionCorruptedError(`Not a sealed session cookie: ${reason}`, { operation: 'open' });
  if (typeof value !== 'string') throw corrupted('not a string');
  const first = value.indexOf('.');
  const second = value.indexOf('.', first + 1);
  if (first < 0 || second < 0 || value.slice(0, first) !== FORMAT) {
    throw corrupted('unknown format');
  }
  const keyId = value.slice(first + 1, second);
  const body = value.slice(second + 1);
  if (!KEY_ID.test(keyId) || !BASE64URL.test(body)) throw corrupted('bad characters');
  const bytes = Buffer.from(body, 'base64url');
  if (bytes.length < MIN_SEALED_BYTES) throw corrupted('too short');
  // Base64url's last character carries unused bits: only the canonical
  // spelling is accepted, so one sealed value has exactly one cookie text.
  if (bytes.toString('base64url') !== body) throw corrupted('not canonical base64url');
  return { keyId, bytes };
}

const { refuse: invalid } = createOptionChecks('CookieSealer');
