import { crc32 } from 'node:zlib';
import { SessionValidationError, generateSessionId } from '@session-cluster/core';
import { describe, expect, it } from 'vitest';
import { RedisKeys } from './redis-keys.js';

function hashTag(key: string): string | undefined {
  return /\{([^}]+)\}/.exec(key)?.[1];
}

describe('RedisKeys', () => {
  it('puts a session, its expiry bucket and the bucket sweep under one hash tag', () => {
    const keys = new RedisKeys('sc', 64);
    for (let i = 0; i < 50; i++) {
      const id = generateSessionId();
      const bucket = keys.bucketOf(id);
      expect(bucket).toBe(crc32(id) % 64);
      expect(keys.session(id)).toBe(`sc:s:{sc:${bucket}}:${id}`);
      expect(keys.expiryBucketOf(id)).toBe(`sc:exp:{sc:${bucket}}`);
      expect(hashTag(keys.session(id))).toBe(hashTag(keys.expiryBucketOf(id)));
      expect(keys.session(id).startsWith(keys.sessionKeyPrefix(bucket))).toBe(true);
    }
  });

  it('spreads ids over every bucket', () => {
    const keys = new RedisKeys('sc', 8);
    const seen = new Set<number>();
    for (let i = 0; i < 400; i++) seen.add(keys.bucketOf(generateSessionId()));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('encodes user ids so no character can change the hash tag', () => {
    const keys = new RedisKeys('app.v2', 64);
    const key = keys.userIndex('we{ird}:user é');
    expect(key).toBe(`app.v2:u:{${Buffer.from('we{ird}:user é').toString('base64url')}}`);
    expect(key.match(/[{}]/g)).toEqual(['{', '}']);
  });

  it('rejects prefixes with braces, spaces, globs or bad lengths with INVALID_CONFIG', () => {
    for (const prefix of ['', 'a{b}', 'a b', 'a*', 'x'.repeat(65), 'é']) {
      let caught: unknown;
      try {
        new RedisKeys(prefix, 64);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(SessionValidationError);
      expect((caught as SessionValidationError).code).toBe('INVALID_CONFIG');
      expect((caught as SessionValidationError).field).toBe('prefix');
    }
    expect(new RedisKeys('A-z_0.9:x', 1).prefix).toBe('A-z_0.9:x');
  });
});
