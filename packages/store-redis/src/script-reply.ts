import { SessionError } from '@session-cluster/core';

/*
 * Script and command replies arrive as RESP2 or RESP3 depending on the
 * client (ioredis 6 speaks RESP3 unless told otherwise; the store's own
 * clients pin RESP2). The scripts only return arrays, integers and strings —
 * never a Lua boolean, which RESP3 would turn into a boolean reply instead of
 * nil — so both protocols give the same shapes. These readers check them.
 */

function unexpected(what: string, context: string): SessionError {
  return new SessionError('INTERNAL', `Unexpected Redis reply from ${context}: ${what}`, {
    operation: context,
  });
}

/** The reply as an array. @throws SessionError `INTERNAL` otherwise */
export function replyArray(reply: unknown, context: string): readonly unknown[] {
  if (!Array.isArray(reply)) throw unexpected('expected an array', context);
  return reply;
}

/** An integer element (a number, or a string of digits). @throws SessionError `INTERNAL` otherwise */
export function replyInteger(value: unknown, context: string): number {
  const number = typeof value === 'string' && value !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number)) {
    throw unexpected('expected an integer', context);
  }
  return number;
}

/** A finite number element (a number, or a numeric string). @throws SessionError `INTERNAL` otherwise */
export function replyNumber(value: unknown, context: string): number {
  const number = typeof value === 'string' && value !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number)) {
    throw unexpected('expected a number', context);
  }
  return number;
}

/** A string element. @throws SessionError `INTERNAL` otherwise */
export function replyText(value: unknown, context: string): string {
  if (typeof value !== 'string') throw unexpected('expected a string', context);
  return value;
}

/**
 * `ZRANGE … WITHSCORES` as `[member, score]` pairs, from either shape: RESP2
 * (and ioredis' default "legacy" RESP3 mapping) gives a flat
 * `[member, score, member, score]` list with string scores; RESP3 may give
 * `[[member, score], …]` with number scores.
 */
export function scoredMembers(
  reply: unknown,
  context: string,
): (readonly [member: string, score: number])[] {
  const items = replyArray(reply, context);
  const pairs: (readonly [string, number])[] = [];
  if (items.length > 0 && Array.isArray(items[0])) {
    for (const item of items) {
      const pair = replyArray(item, context);
      pairs.push([replyText(pair[0], context), replyNumber(pair[1], context)]);
    }
    return pairs;
  }
  if (items.length % 2 !== 0) throw unexpected('odd WITHSCORES list', context);
  for (let i = 0; i < items.length; i += 2) {
    pairs.push([replyText(items[i], context), replyNumber(items[i + 1], context)]);
  }
  return pairs;
}
