import { describe, expect, it } from 'vitest';
import { generateSessionId, hashSessionId } from '@session-cluster/core';
import { redisStatement } from './redis-statement.js';

describe('redisStatement', () => {
  const sid = generateSessionId();
  const masked = `<sid:${hashSessionId(sid)}>`;

  it('shows a script command with its keys (ids masked) and counts its arguments', () => {
    const payload = JSON.stringify({ secret: 'card-4242', sid });
    expect(
      redisStatement('evalsha', [
        'abc123',
        '2',
        `app:s:{app:3}:${sid}`,
        'app:exp:{app:3}',
        payload,
        '17',
      ]),
    ).toBe(`evalsha abc123 2 app:s:{app:3}:${masked} app:exp:{app:3} [2 other arguments]`);
  });

  it('never exports an EVAL script body', () => {
    expect(
      redisStatement('eval', ['return redis.call("GET", KEYS[1])', '1', `lock:{${sid}}`]),
    ).toBe(`eval <script> 1 lock:{${masked}}`);
  });

  it('shows the key of a plain command and counts the rest (values never shown)', () => {
    expect(redisStatement('set', [`app:s:{app:1}:${sid}`, 'session-data', 'PX', 1000])).toBe(
      `set app:s:{app:1}:${masked} [3 other arguments]`,
    );
    expect(redisStatement('get', [Buffer.from('k')])).toBe('get <1 bytes>');
  });

  it('keyless commands and commands without arguments are just the name', () => {
    expect(redisStatement('ping', [])).toBe('ping');
    expect(redisStatement('auth', ['user', 'password'])).toBe('auth');
  });

  it('cuts very long keys and tolerates a malformed script call', () => {
    expect(redisStatement('get', ['k'.repeat(500)])).toBe(`get ${'k'.repeat(200)}…`);
    expect(redisStatement('evalsha', ['sha', 'x', 'a'])).toBe('evalsha [3 other arguments]');
  });
});
