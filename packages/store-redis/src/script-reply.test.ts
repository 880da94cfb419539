import { SessionError } from '@session-cluster/core';
import { describe, expect, it } from 'vitest';
import { replyArray, replyInteger, replyNumber, replyText, scoredMembers } from './script-reply.js';

describe('script replies', () => {
  it('reads WITHSCORES in the RESP2 / legacy flat shape', () => {
    expect(scoredMembers(['a', '1700000000000', 'b', '1.5'], 'zrange')).toEqual([
      ['a', 1_700_000_000_000],
      ['b', 1.5],
    ]);
  });

  it('reads WITHSCORES in the RESP3 nested shape', () => {
    expect(
      scoredMembers(
        [
          ['a', 1_700_000_000_000],
          ['b', 1.5],
        ],
        'zrange',
      ),
    ).toEqual([
      ['a', 1_700_000_000_000],
      ['b', 1.5],
    ]);
    expect(scoredMembers([], 'zrange')).toEqual([]);
  });

  it('rejects shapes the scripts never produce with INTERNAL', () => {
    const bad: readonly (() => unknown)[] = [
      () => replyArray('x', 's'),
      () => replyInteger('1.5', 's'),
      () => replyInteger(null, 's'),
      () => replyInteger('', 's'),
      () => replyNumber('abc', 's'),
      () => replyText(1, 's'),
      () => scoredMembers(['a'], 's'),
      () => scoredMembers([['a', 'x']], 's'),
    ];
    for (const read of bad) {
      let caught: unknown;
      try {
        read();
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(SessionError);
      expect((caught as SessionError).code).toBe('INTERNAL');
    }
  });

  it('accepts integers as numbers or digit strings', () => {
    expect(replyInteger(3, 's')).toBe(3);
    expect(replyInteger('-2', 's')).toBe(-2);
    expect(replyNumber('1700000000000.5', 's')).toBe(1_700_000_000_000.5);
  });
});
