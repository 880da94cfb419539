import type { ExpiredSession, SweepResult } from '@session-cluster/core';
import { replyArray, replyInteger, replyNumber, replyText } from './script-reply.js';
import { ENTRY_SEPARATOR, FIELD_SEPARATOR } from './session-frame.js';

/**
 * One expiry reported by {@link RedisStore.sweepBucket}. With the `pending`
 * option it is recorded in the bucket's outbox, in its sweep call's batch,
 * until {@link RedisStore.ackBatch} (or the consumer's
 * `RedisExpiryOutbox.ack`) removes that batch once its expiries are
 * handled, so a crash between the sweep and the handling of its events
 * loses nothing.
 */
export interface SweptExpiry extends ExpiredSession {
  /** The expiry bucket it was swept from. */
  readonly bucket: number;
  /** When the session was created (epoch ms), when known. */
  readonly createdAt: number | undefined;
}

/**
 * The expiries one sweep call reported, as recorded in the bucket's outbox.
 * Read back any number of times it is the same batch: same `id`, same
 * expiries, in the same order.
 */
export interface ExpiryBatch {
  /**
   * 32 hex chars, unique per batch (sha1 of the first expiry's id and
   * expiry: each expiry is reported by one sweep call, ever). Never the raw
   * session id.
   */
  readonly id: string;
  /** The expiry bucket it was swept from. */
  readonly bucket: number;
  /** At least one. */
  readonly expiries: readonly SweptExpiry[];
}

/** Options of {@link RedisStore.sweepBucket}. */
export interface SweepBucketOptions {
  /**
   * Also record the reported expiries, as one batch, in the bucket's outbox
   * (and its id among the unpublished ones), atomically with the delete.
   * The caller publishes a reference to the batch, then
   * {@link RedisStore.markPublished}; whoever handles the expiries
   * acknowledges the batch ({@link RedisStore.ackBatch}, or a consumer's
   * `RedisExpiryOutbox.ack`). {@link RedisStore.pendingBatches} finds the
   * unpublished ones. Default false (the expiries are only returned).
   */
  readonly pending?: boolean | undefined;
}

/** Outcome of {@link RedisStore.sweepBucket}. */
export interface BucketSweepResult extends SweepResult {
  /** The sessions that expired, each reported by exactly one sweep call. */
  readonly expired: readonly SweptExpiry[];
  /**
   * With `pending`, the outbox batch holding `expired` (the same id
   * {@link RedisStore.pendingBatches} gives it); `undefined` when nothing
   * expired or without `pending`.
   */
  readonly batchId: string | undefined;
  /**
   * Index members removed because their session hash was already gone
   * (removed by its Redis TTL after the grace period, or evicted). Not
   * reported as expired: nothing is known about them any more.
   */
  readonly orphansRemoved: number;
  /** Members examined (expired + orphans + sessions touched meanwhile); at most `limit`. */
  readonly examined: number;
}

/**
 * Decode the sweep script's reply: `{more, orphans, fixed, batchId, (sid,
 * userId, expiresAt, createdAt)*}`.
 */
export function decodeSweepReply(raw: unknown, bucket: number): BucketSweepResult {
  const context = 'sweepBucket';
  const reply = replyArray(raw, context);
  const more = replyInteger(reply[0], context) === 1;
  const orphansRemoved = replyInteger(reply[1], context);
  const fixed = replyInteger(reply[2], context);
  const batchId = replyText(reply[3], context);
  const expired: SweptExpiry[] = [];
  for (let i = 4; i + 3 < reply.length; i += 4) {
    const id = replyText(reply[i], context);
    const userId = replyText(reply[i + 1], context);
    const createdAt = replyText(reply[i + 3], context);
    expired.push({
      id,
      userId: userId === '' ? undefined : userId,
      expiresAt: replyNumber(reply[i + 2], context),
      bucket,
      createdAt: createdAt === '' ? undefined : Number(createdAt),
    });
  }
  return {
    expired,
    batchId: batchId === '' ? undefined : batchId,
    more,
    orphansRemoved,
    examined: expired.length + orphansRemoved + fixed,
  };
}

/**
 * An outbox field and value as the sweep script wrote them: quadruples
 * `sid US userId US expiresAt US createdAt`, joined by US (releases before
 * joined them by RS: read the same). `undefined` for a value that is not
 * one (nothing but the script writes the outbox).
 */
export function decodeOutboxBatch(
  bucket: number,
  id: string,
  value: string,
): ExpiryBatch | undefined {
  const fields = (
    value.includes(ENTRY_SEPARATOR) ? value.replaceAll(ENTRY_SEPARATOR, FIELD_SEPARATOR) : value
  ).split(FIELD_SEPARATOR);
  if (fields.length % 4 !== 0) return undefined;
  const expiries: SweptExpiry[] = [];
  for (let i = 0; i < fields.length; i += 4) {
    const sid = fields[i] as string;
    const userId = fields[i + 1] as string;
    const expiresAt = fields[i + 2] as string;
    const createdAt = fields[i + 3] as string;
    const expiry = Number(expiresAt);
    if (sid === '' || expiresAt === '' || !Number.isFinite(expiry)) return undefined;
    expiries.push({
      id: sid,
      userId: userId === '' ? undefined : userId,
      expiresAt: expiry,
      bucket,
      createdAt: createdAt === '' ? undefined : Number(createdAt),
    });
  }
  return { id, bucket, expiries };
}

/**
 * Expiries encoded as the sweep script writes an outbox batch (see
 * {@link decodeOutboxBatch}), for a consumer that keeps only what is left.
 */
export function encodeOutboxExpiries(expiries: readonly SweptExpiry[]): string {
  return expiries
    .map((expiry) =>
      [
        expiry.id,
        expiry.userId ?? '',
        String(expiry.expiresAt),
        expiry.createdAt === undefined ? '' : String(expiry.createdAt),
      ].join(FIELD_SEPARATOR),
    )
    .join(FIELD_SEPARATOR);
}

/** A member of the per-expiry outbox of earlier releases: `sid US userId US createdAt`. */
export function legacyPendingMember(expiry: SweptExpiry): string {
  const createdAt = expiry.createdAt === undefined ? '' : String(expiry.createdAt);
  return [expiry.id, expiry.userId ?? '', createdAt].join(FIELD_SEPARATOR);
}

/** The expiry of a per-expiry outbox member of earlier releases and its score. */
export function legacyPendingEntry(bucket: number, member: string, expiresAt: number): SweptExpiry {
  const [id = '', userId = '', createdAt = ''] = member.split(FIELD_SEPARATOR);
  return {
    id,
    userId: userId === '' ? undefined : userId,
    expiresAt,
    bucket,
    createdAt: createdAt === '' ? undefined : Number(createdAt),
  };
}
