import { describe, expect, it } from 'vitest';
import { generateSessionId, hashSessionId } from '@session-cluster/core';
import { SessionIdHashes } from './session-id-hashes.js';

describe('SessionIdHashes', () => {
  it('gives hashSessionId of a valid id, the same again from memory', () => {
    const hashes = new SessionIdHashes();
    const id = generateSessionId();
    expect(hashes.of(id)).toBe(hashSessionId(id));
    expect(hashes.of(id)).toBe(hashSessionId(id));
  });

  it('gives nothing for what is not a session id (nothing to record)', () => {
    const hashes = new SessionIdHashes();
    expect(hashes.of(undefined)).toBeUndefined();
    expect(hashes.of(42)).toBeUndefined();
    expect(hashes.of('not-an-id')).toBeUndefined();
  });

  it('stays right past its capacity (emptied, then filled again)', () => {
    const hashes = new SessionIdHashes(2);
    const ids = Array.from({ length: 5 }, () => generateSessionId());
    for (const id of [...ids, ...ids]) expect(hashes.of(id)).toBe(hashSessionId(id));
  });
});
