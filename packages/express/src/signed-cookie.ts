import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { SessionValidationError, hashSessionId, isValidSessionId } from '@session-cluster/core';

/** Shortest secret accepted: 32 characters (a guessable secret makes every cookie forgeable). */
export const MIN_SECRET_LENGTH = 32;

/** A cookie whose signature verified. */
export interface VerifiedCookie {
  readonly ok: true;
  /** The session id it carries (valid format; may still not exist in the store). */
  readonly id: string;
  /** Epoch ms when the session's expiry was last rolled, as this cookie was signed (signed). */
  readonly touchedAt: number;
  /**
   * The session version the browser last wrote (0 when the cookie carries
   * none: issued before any write, or by an earlier release). Reads ask for
   * at least this version, so no instance's cache answers with older data.
   * A hint outside the signature (see {@link SessionCookieSigner}).
   */
  readonly version: number;
  /**
   * Epoch ms when the browser learned {@link version} (the response that
   * carried it); `touchedAt` for a cookie without it. A hint, as `version`.
   */
  readonly versionSince: number;
  /** True when a secret other than the first verified it: re-issue under the first. */
  readonly rotated: boolean;
}

/** A cookie that did not verify: it is ignored and a fresh session starts. */
export interface RejectedCookie {
  readonly ok: false;
  readonly reason: 'malformed' | 'bad-signature';
  /** `hashSessionId` of the id the cookie claimed (for logs), when it had one. */
  readonly claimedIdHash: string | undefined;
}

// `<id 43>.<touchedAt base36>[.<version base36>.<since base36>].<HMAC-SHA256 base64url 43>`,
// the HMAC over `<id>.<touchedAt>`. Cookies of earlier releases:
// `<id>.<touchedAt>.<version>.<HMAC over all three>` (still verified), and
// `<id>.<touchedAt>.<HMAC>` (the same as today's without a version).
const COOKIE_PATTERN =
  /^([A-Za-z0-9_-]{43})\.([0-9a-z]{1,11})(?:\.([0-9a-z]{1,11}))?(?:\.([0-9a-z]{1,11}))?\.([A-Za-z0-9_-]{43})$/;

/**
 * Signatures remembered per signer (per session id, the roll time and
 * signature last issued or verified for it): a browser presents the same
 * signed part on every request until its session's expiry is rolled again,
 * and the HMAC is most of what the cookie costs a request.
 */
export const VERIFIED_COOKIE_MEMO_SIZE = 4096;

/** Entries per generation of the memo (see SessionCookieSigner). */
const MEMO_GENERATION = VERIFIED_COOKIE_MEMO_SIZE / 2;

/**
 * What the memo holds for a session id: a signed part that verified (or
 * that this signer signed), under which secret, and the last whole cookie
 * seen for the id with what it verified as (a browser sends the same
 * cookie until a response replaces it).
 */
interface SignedPart {
  readonly touched: string;
  readonly signature: string;
  readonly rotated: boolean;
  lastValue: string;
  lastCookie: VerifiedCookie;
}

/** Shortest cookie: `<id 43>.<1 digit>.<signature 43>`. */
const MIN_COOKIE_LENGTH = 43 + 1 + 1 + 1 + 43;
const DOT = 46;
/** The token between the roll time and the signature: `<version>.<since>`. */
const TOKEN_PATTERN = /^([0-9a-z]{1,11})\.([0-9a-z]{1,11})$/;

/**
 * Signs and verifies the session cookie under HMAC-SHA256: the session id
 * and the time its expiry was last rolled are signed; the read-your-writes
 * token (the version the browser last wrote, and when it learned it) rides
 * along outside the signature. Secrets rotate: the first signs, any
 * verifies (compared in constant time).
 *
 * Why the token is not signed: it only sets a floor on how fresh a copy of
 * the cookie's own session an instance may serve. A browser that lowers it
 * is shown copies as old as it asks for, which replaying one of its older
 * cookies already allowed while the token was signed; one that raises it
 * makes instances read its session from Redis. Neither reaches another
 * session (the id is signed), and neither lets the browser extend its
 * session (the roll time is signed, the absolute lifetime is the record's).
 * Unsigned, a write no longer needs a new HMAC: the signed part changes only
 * when the roll time does, once per `touchAfterMs` at most.
 *
 * A signed part that verified, or that this signer signed, is remembered
 * per session id (at most {@link VERIFIED_COOKIE_MEMO_SIZE}, in two
 * generations: when the recent one is full it becomes the older one and the
 * older one is dropped; an entry found in the older one moves back).
 * The memo answers only for exactly the roll time and signature the HMAC
 * accepted for that id; a rejected cookie is checked again every time.
 */
export class SessionCookieSigner {
  private readonly secrets: readonly KeyObject[];
  private recent = new Map<string, SignedPart>();
  private older = new Map<string, SignedPart>();

  /**
   * @param owner how the error names the adapter (`<owner> option secrets: …`)
   * @throws SessionValidationError `INVALID_CONFIG` (field `secrets`)
   */
  public constructor(secrets: string | readonly string[], owner = 'sessionMiddleware') {
    const invalidSecrets = (message: string): SessionValidationError =>
      new SessionValidationError(`${owner} option secrets: ${message}`, {
        code: 'INVALID_CONFIG',
        field: 'secrets',
      });
    const list: unknown = typeof secrets === 'string' ? [secrets] : secrets;
    if (!Array.isArray(list) || list.length === 0) {
      throw invalidSecrets('expected a secret or a non-empty array of secrets');
    }
    for (const [i, secret] of (list as unknown[]).entries()) {
      if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) {
        throw invalidSecrets(
          `secrets[${i}]: expected a string of at least ${MIN_SECRET_LENGTH} characters`,
        );
      }
    }
    // Key objects once: createHmac would otherwise import the secret per call.
    this.secrets = (list as string[]).map((secret) => createSecretKey(Buffer.from(secret, 'utf8')));
  }

  /**
   * The cookie value for `id`, signed with the first secret.
   *
   * @param touchedAt when the session's expiry was last rolled (epoch ms)
   * @param version the version the browser has now seen written; 0 leaves the token out
   * @param versionSince when the browser learns it (epoch ms; default `touchedAt`)
   */
  public sign(id: string, touchedAt: number, version = 0, versionSince = touchedAt): string {
    const time = Math.max(0, Math.floor(touchedAt));
    const touched = time.toString(36);
    const secret = this.secrets[0];
    if (secret === undefined) throw new Error('unreachable: a signer has a secret');
    const known = this.lookup(id);
    const signature =
      known !== undefined && !known.rotated && known.touched === touched
        ? known.signature
        : mac(secret, `${id}.${touched}`);
    const versioned = Number.isSafeInteger(version) && version > 0;
    const since = Math.max(0, Math.floor(versionSince));
    const value = versioned
      ? `${id}.${touched}.${version.toString(36)}.${since.toString(36)}.${signature}`
      : `${id}.${touched}.${signature}`;
    // The browser's next request presents exactly this: remembered with what
    // the check would answer, only when it would accept it: a well-formed id
    // (the id goes on to build storage keys) and safe integer times (at most
    // 11 base-36 digits, as the pattern wants).
    // (An id the memo knows was checked when it went in.)
    if (
      (known !== undefined || isValidSessionId(id)) &&
      Number.isSafeInteger(time) &&
      (!versioned || Number.isSafeInteger(since))
    ) {
      const cookie = verified(id, time, versioned ? version : 0, versioned ? since : time, false);
      if (signature === known?.signature) {
        known.lastValue = value;
        known.lastCookie = cookie;
      } else {
        this.remember(id, {
          touched,
          signature,
          rotated: false,
          lastValue: value,
          lastCookie: cookie,
        });
      }
    }
    return value;
  }

  /** Check a cookie value; never throws. */
  public verify(value: string): VerifiedCookie | RejectedCookie {
    if (value.length >= MIN_COOKIE_LENGTH && value.charCodeAt(43) === DOT) {
      const known = this.lookup(value.slice(0, 43));
      if (known !== undefined) {
        if (known.lastValue === value) return known.lastCookie;
        const same = this.sameSignedPart(value, known);
        if (same !== undefined) return same;
      }
    }
    return this.check(value);
  }

  /**
   * `value` when it carries exactly the signed part remembered for its id
   * (what the HMAC accepted), with a well-formed token or none; `undefined`
   * for anything else, which the full check then decides. String equality
   * with the remembered signature is fine here: the memo holds only
   * signatures already issued for that id, and the id is the secret a
   * forger lacks.
   */
  private sameSignedPart(value: string, known: SignedPart): VerifiedCookie | undefined {
    const tokenAt = 44 + known.touched.length;
    const signatureAt = value.length - 43;
    if (
      !value.startsWith(known.touched, 44) ||
      !value.endsWith(known.signature) ||
      value.charCodeAt(tokenAt) !== DOT ||
      value.charCodeAt(signatureAt - 1) !== DOT
    ) {
      return undefined;
    }
    const time = parseInt(known.touched, 36);
    let cookie: VerifiedCookie;
    if (tokenAt === signatureAt - 1) {
      cookie = verified(value.slice(0, 43), time, 0, time, known.rotated);
    } else {
      const token = TOKEN_PATTERN.exec(value.slice(tokenAt + 1, signatureAt - 1));
      if (token === null) return undefined;
      const [, version = '', since = ''] = token;
      cookie = verified(
        value.slice(0, 43),
        time,
        parseInt(version, 36),
        parseInt(since, 36),
        known.rotated,
      );
    }
    known.lastValue = value;
    known.lastCookie = cookie;
    return cookie;
  }

  /** The full check: the pattern, then the HMAC under each secret. */
  private check(value: string): VerifiedCookie | RejectedCookie {
    const match = COOKIE_PATTERN.exec(value);
    if (match === null)
      return { ok: false, reason: 'malformed', claimedIdHash: claimedHash(value) };
    const [, id = '', touched = '', version, since, signature = ''] = match;
    // A cookie of an earlier release with a version signed it with the id and time.
    const legacy = version !== undefined && since === undefined;
    const secret = this.secretOf(
      legacy ? `${id}.${touched}.${version}` : `${id}.${touched}`,
      signature,
    );
    if (secret === undefined) {
      return { ok: false, reason: 'bad-signature', claimedIdHash: hashSessionId(id) };
    }
    // Signed by us, so well-formed unless a secret leaked; checked anyway
    // because the id goes on to build storage keys.
    if (!isValidSessionId(id)) {
      return { ok: false, reason: 'malformed', claimedIdHash: hashSessionId(id) };
    }
    const time = parseInt(touched, 36);
    const versionNumber = version === undefined ? 0 : parseInt(version, 36);
    const cookie = verified(
      id,
      time,
      versionNumber,
      since === undefined ? time : parseInt(since, 36),
      secret > 0,
    );
    // A legacy signature covers the version too: it is not the id's signed part.
    if (!legacy) {
      this.remember(id, {
        touched,
        signature,
        rotated: secret > 0,
        lastValue: value,
        lastCookie: cookie,
      });
    }
    return cookie;
  }

  /** The memo's entry for `id`, moved back to the recent generation when found in the older one. */
  private lookup(id: string): SignedPart | undefined {
    const recent = this.recent.get(id);
    if (recent !== undefined) return recent;
    const older = this.older.get(id);
    if (older !== undefined) this.remember(id, older);
    return older;
  }

  private remember(id: string, part: SignedPart): void {
    if (this.recent.size >= MEMO_GENERATION && !this.recent.has(id)) {
      this.older = this.recent;
      this.recent = new Map();
    }
    this.recent.set(id, part);
  }

  /** The index of the secret whose HMAC of `payload` is `signature`; `undefined` when none. */
  private secretOf(payload: string, signature: string): number | undefined {
    // Compared as text, not decoded bytes: base64url's last character has
    // unused bits, and only the canonical spelling may verify.
    const given = Buffer.from(signature, 'latin1');
    for (const [i, secret] of this.secrets.entries()) {
      const expected = Buffer.from(mac(secret, payload), 'latin1');
      if (expected.length === given.length && timingSafeEqual(expected, given)) return i;
    }
    return undefined;
  }
}

/** A verified cookie, frozen: the memo hands the same object to every request presenting it. */
function verified(
  id: string,
  touchedAt: number,
  version: number,
  versionSince: number,
  rotated: boolean,
): VerifiedCookie {
  return Object.freeze({ ok: true, id, touchedAt, version, versionSince, rotated });
}

function mac(secret: KeyObject, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}

function claimedHash(value: string): string | undefined {
  const dot = value.indexOf('.');
  const claimed = dot > 0 ? value.slice(0, dot) : value;
  return claimed.length === 0 ? undefined : hashSessionId(claimed);
}
