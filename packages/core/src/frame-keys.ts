import { createHash, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { KeyRing } from './key-ring.js';

/** The two secrets of one key's frame check: 64 hex characters each (one SHA-1 block). */
export interface FrameCheckKey {
  readonly inner: string;
  readonly outer: string;
}

/**
 * Keys of the *keyed* integrity check a container (the Redis store's frame)
 * puts over a whole session — owner, version, timestamps and every entry —
 * when encryption at rest is on. AES-GCM authenticates each value on its
 * own, bound to its session and key; it cannot tell that an entry was
 * removed or replayed from an older write, or that the owner or version in
 * the header was changed. This check can: it is computed under a secret
 * derived from each ring key (HKDF-SHA256, info {@link FRAME_KEY_INFO}), so
 * only a holder of the ring can produce it.
 *
 * The check is `kid ":" sha1hex(outer ‖ sha1hex(inner ‖ message))`: HMAC's
 * nested construction with two independent one-block keys (NMAC), written
 * this way because Redis Lua has SHA-1 (`redis.sha1hex`) but no HMAC, and
 * the patch scripts must verify and recompute it inside Redis. The derived
 * secrets are therefore sent to Redis with every write; the AES keys never
 * are. See docs/security.md for what this does and does not protect against.
 */
export interface FrameKeys {
  /** Id of the key that checks new frames (the ring's first). */
  readonly currentId: string;
  /** Every ring key's secrets, by key id. */
  readonly byId: ReadonlyMap<string, FrameCheckKey>;
  /**
   * Frames with an unkeyed check (written before encryption was turned on)
   * are still read: the codec's `acceptPlaintext` (a migration setting).
   */
  readonly acceptUnkeyed: boolean;
}

/** HKDF `info` of the frame check secrets: bump it to change the derivation. */
export const FRAME_KEY_INFO = 'session-cluster frame check v1';

/** Derive the frame check secrets of every key in `ring`. */
export function deriveFrameKeys(ring: KeyRing, acceptUnkeyed: boolean): FrameKeys {
  const byId = new Map<string, FrameCheckKey>();
  for (const [id, key] of ring.byId) {
    const bytes = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), FRAME_KEY_INFO, 64));
    byId.set(id, {
      inner: bytes.subarray(0, 32).toString('hex'),
      outer: bytes.subarray(32).toString('hex'),
    });
  }
  return { currentId: ring.primaryId, byId, acceptUnkeyed };
}

/** The keyed check of `message` under key `keyId`; `undefined` when the ring has no such key. */
export function keyedFrameCheck(
  keys: FrameKeys,
  keyId: string,
  message: string,
): string | undefined {
  const key = keys.byId.get(keyId);
  if (key === undefined) return undefined;
  const inner = createHash('sha1').update(key.inner).update(message).digest('hex');
  return `${keyId}:${createHash('sha1').update(key.outer).update(inner).digest('hex')}`;
}

/**
 * Whether `stored` (a frame's `k`) is the keyed check of `message`,
 * compared in constant time.
 */
export function verifyKeyedFrameCheck(keys: FrameKeys, stored: string, message: string): boolean {
  const colon = stored.indexOf(':');
  if (colon <= 0) return false;
  const expected = keyedFrameCheck(keys, stored.slice(0, colon), message);
  if (expected === undefined || expected.length !== stored.length) return false;
  return timingSafeEqual(Buffer.from(expected), Buffer.from(stored));
}
