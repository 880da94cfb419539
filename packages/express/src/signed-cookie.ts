import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  SESSION_ID_LENGTH,
  SessionValidationError,
  hashSessionId,
  isValidSessionId,
} from '@session-cluster/core';

/** Shortest secret accepted: 32 characters (a guessable secret makes every cookie forgeable). */
export const MIN_SECRET_LENGTH = 32;

/** A cookie whose signature verified. */
export interface VerifiedCookie {
  readonly ok: true;
  /** The session id it carries (valid format; may still not exist in the store). */
  readonly id: string;
  /** Epoch ms when the session's expiry was last rolled, as this cookie was issued. */
  readonly touchedAt: number;
  /**
   * The session version the browser last wrote (0 when the cookie carries
   * none: issued before any write, or by an earlier release). Reads ask for
   * at least this version, so no instance's cache answers with older data.
   */
  readonly version: number;
  /**
   * Epoch ms when the browser learned {@link version} (the response that
   * carried it); `touchedAt` for a cookie that does not say.
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

// `<id 43>.<touchedAt base36>[.<version base36>[.<since base36>]].<HMAC-SHA256 base64url 43>`,
// the HMAC over everything before it. Cookies of earlier releases carry no
// since (it is then the roll time) or no version.
const COOKIE_PATTERN =
  /^([A-Za-z0-9_-]{43})\.([0-9a-z]{1,11})(?:\.([0-9a-z]{1,11})(?:\.([0-9a-z]{1,11}))?)?\.([A-Za-z0-9_-]{43})$/;

/**
 * Sessions whose latest verified cookie a signer remembers: a browser sends
 * the same cookie on every request until a write re-issues it, and the HMAC
 * is most of what a read-only request costs the middleware.
 */
export const VERIFIED_COOKIE_MEMO_SIZE = 4096;

/** Entries per generation of the memo (see SessionCookieSigner). */
const MEMO_GENERATION = VERIFIED_COOKIE_MEMO_SIZE / 2;

/** What the memo holds for a session: its latest cookie that verified, and what it verified as. */
interface RememberedCookie {
  readonly value: string;
  readonly cookie: VerifiedCookie;
}

/**
 * Signs and verifies the session cookie: the session id, the time its
 * expiry was last rolled, the version the browser last wrote and when it
 * learned it, under HMAC-SHA256. Secrets rotate: the first signs, any
 * verifies (compared in constant time).
 *
 * The latest cookie that verified is remembered per session id (at most
 * {@link VERIFIED_COOKIE_MEMO_SIZE} sessions, in two generations: when the
 * recent one is full it becomes the older one and the older one is
 * dropped; a session found in the older one moves back to the recent one).
 * Cheaper than dropping the oldest entry per insert, which cost a write
 * request more than the HMAC did. Keyed by the id, not the cookie: every
 * write re-issues the session's cookie (the version changes), and a memo
 * of cookies filled with the superseded ones of write-heavy sessions,
 * which crowded out other sessions and outlived the young generation
 * (~0.3 MB more promoted per scavenge under a write load). The same string
 * verifies the same way under the same secrets, so the memo answers only
 * for exactly the string the HMAC accepted (compared whole), and a
 * rejected cookie is checked again every time. A cookie this signer just
 * signed is remembered too: after a write the browser's next request
 * presents exactly that string, and it would verify (the first secret
 * signed it), so a write costs one HMAC instead of two. Two tabs presenting
 * two cookies of one session take turns in the memo, each then checked by
 * its HMAC: slower, never wrong.
 */
export class SessionCookieSigner {
  private readonly secrets: readonly KeyObject[];
  /** Session id → its latest verified cookie. */
  private recent = new Map<string, RememberedCookie>();
  private older = new Map<string, RememberedCookie>();

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
   * @param version the version the browser has now seen written; 0 leaves it (and `versionSince`) out
   * @param versionSince when the browser learns it (epoch ms); left out when it is `touchedAt`
   */
  public sign(id: string, touchedAt: number, version = 0, versionSince = touchedAt): string {
    const touched = Math.max(0, Math.floor(touchedAt));
    const versioned = Number.isSafeInteger(version) && version > 0;
    const since = Math.max(0, Math.floor(versionSince));
    const dated = versioned && since !== touched;
    let payload = `${id}.${touched.toString(36)}`;
    if (versioned) payload += `.${version.toString(36)}`;
    if (dated) payload += `.${since.toString(36)}`;
    const secret = this.secrets[0];
    if (secret === undefined) throw new Error('unreachable: a signer has a secret');
    const value = `${payload}.${mac(secret, payload)}`;
    // What check() would answer for it, remembered only when check() would
    // accept it: a well-formed id (the id goes on to build storage keys) and
    // safe integer times (a safe integer has at most 11 base-36 digits, as
    // the pattern wants; the version is one by now).
    if (
      Number.isSafeInteger(touched) &&
      (!dated || Number.isSafeInteger(since)) &&
      isValidSessionId(id)
    ) {
      this.remember(id, {
        value,
        cookie: Object.freeze({
          ok: true,
          id,
          touchedAt: touched,
          version: versioned ? version : 0,
          versionSince: dated ? since : touched,
          rotated: false,
        }),
      });
    }
    return value;
  }

  /** Check a cookie value; never throws. */
  public verify(value: string): VerifiedCookie | RejectedCookie {
    // A well-formed cookie starts with the id (what check() matches as it).
    const id = value.slice(0, SESSION_ID_LENGTH);
    let remembered = this.recent.get(id);
    if (remembered === undefined) {
      remembered = this.older.get(id);
      if (remembered !== undefined) this.remember(id, remembered);
    }
    if (remembered !== undefined && remembered.value === value) return remembered.cookie;
    const checked = this.check(value);
    if (checked.ok) this.remember(checked.id, { value, cookie: checked });
    return checked;
  }

  private remember(id: string, remembered: RememberedCookie): void {
    if (this.recent.size >= MEMO_GENERATION && !this.recent.has(id)) {
      this.older = this.recent;
      this.recent = new Map();
    }
    this.recent.set(id, remembered);
  }

  private check(value: string): VerifiedCookie | RejectedCookie {
    const match = COOKIE_PATTERN.exec(value);
    if (match === null)
      return { ok: false, reason: 'malformed', claimedIdHash: claimedHash(value) };
    const [, id = '', touched = '', version, since, signature = ''] = match;
    // The signed part: everything before the last dot.
    const payload = value.slice(0, value.length - signature.length - 1);
    // Compared as text, not decoded bytes: base64url's last character has
    // unused bits, and only the canonical spelling may verify.
    const given = Buffer.from(signature, 'latin1');
    for (const [i, secret] of this.secrets.entries()) {
      const expected = Buffer.from(mac(secret, payload), 'latin1');
      if (expected.length === given.length && timingSafeEqual(expected, given)) {
        // Signed by us, so well-formed unless a secret leaked; checked anyway
        // because the id goes on to build storage keys.
        if (!isValidSessionId(id)) {
          return { ok: false, reason: 'malformed', claimedIdHash: hashSessionId(id) };
        }
        // Frozen: the memo hands the same object to every request presenting it.
        const touchedAt = parseInt(touched, 36);
        return Object.freeze({
          ok: true,
          id,
          touchedAt,
          version: version === undefined ? 0 : parseInt(version, 36),
          versionSince: since === undefined ? touchedAt : parseInt(since, 36),
          rotated: i > 0,
        });
      }
    }
    return { ok: false, reason: 'bad-signature', claimedIdHash: hashSessionId(id) };
  }
}

function mac(secret: KeyObject, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}

function claimedHash(value: string): string | undefined {
  const dot = value.indexOf('.');
  const claimed = dot > 0 ? value.slice(0, dot) : value;
  return claimed.length === 0 ? undefined : hashSessionId(claimed);
}
