import { describe, expect, it } from 'vitest';
import { generateSessionId, hashSessionId } from '@session-cluster/core';
import { MAX_REPORTED_TEXT_LENGTH, redactSessionIds } from './health-report.js';

describe('redactSessionIds', () => {
  it('replaces every session id with its short hash', () => {
    const a = generateSessionId();
    const b = generateSessionId();
    const text = redactSessionIds(`key sc:s:{${a}} and "${b}" failed`);
    expect(text).toBe(
      `key sc:s:{<sid:${hashSessionId(a)}>} and "<sid:${hashSessionId(b)}>" failed`,
    );
    expect(text).not.toContain(a);
    expect(text).not.toContain(b);
  });

  it('leaves text alone that only looks similar', () => {
    const id = generateSessionId();
    const longer = `${id}x`; // 44 base64url chars: part of a longer token
    expect(redactSessionIds(longer)).toBe(longer);
    expect(redactSessionIds('connect ECONNREFUSED 127.0.0.1:6379')).toBe(
      'connect ECONNREFUSED 127.0.0.1:6379',
    );
  });

  it(`cuts text to ${MAX_REPORTED_TEXT_LENGTH} characters`, () => {
    const text = redactSessionIds('x'.repeat(1_000));
    expect(text).toHaveLength(MAX_REPORTED_TEXT_LENGTH);
    expect(text.endsWith('…')).toBe(true);
    expect(redactSessionIds('x'.repeat(MAX_REPORTED_TEXT_LENGTH))).toHaveLength(
      MAX_REPORTED_TEXT_LENGTH,
    );
  });
});
