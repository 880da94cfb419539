import { SessionError, SessionNotFoundError, StorageUnavailableError } from '@session-cluster/core';
import { describe, expect, it } from 'vitest';
import { replyPrefix, toStoreError } from './redis-errors.js';

const context = {
  operation: 'load',
  sessionIdHash: 'abc123',
  elapsedMs: 3,
  commandTimeoutMs: 1_000,
};

function named(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

describe('toStoreError', () => {
  it('maps outage replies to STORAGE_UNAVAILABLE by their prefix token, keeping the cause', () => {
    for (const reply of [
      'CLUSTERDOWN The cluster is down',
      'TRYAGAIN Multiple keys request during rehashing of slot',
      'LOADING Redis is loading the dataset in memory',
      "READONLY You can't write against a read only replica.",
      'MASTERDOWN Link with MASTER is down',
      'OOM command not allowed when used memory > maxmemory',
    ]) {
      const cause = named('ReplyError', reply);
      const error = toStoreError(cause, context);
      expect(error).toBeInstanceOf(StorageUnavailableError);
      expect(error.code).toBe('STORAGE_UNAVAILABLE');
      expect(error.cause).toMatchObject({ name: cause.name, message: cause.message });
      expect(error.operation).toBe('load');
      expect(error.sessionIdHash).toBe('abc123');
      expect(error.details?.['reply']).toBe(replyPrefix(reply));
    }
  });

  it('maps other replies (a bug, not an outage) to INTERNAL', () => {
    for (const reply of [
      'ERR unknown command',
      'WRONGTYPE Operation against a key',
      'NOSCRIPT x',
    ]) {
      const error = toStoreError(named('ReplyError', reply), context);
      expect(error.code).toBe('INTERNAL');
      expect(error.retryable).toBe(false);
    }
  });

  it('a reply that merely mentions an outage word is judged by its first token only', () => {
    const error = toStoreError(named('ReplyError', 'ERR CLUSTERDOWN in a Lua string'), context);
    expect(error.code).toBe('INTERNAL');
  });

  it('maps ioredis transport error classes to STORAGE_UNAVAILABLE', () => {
    for (const name of ['AbortError', 'MaxRetriesPerRequestError', 'ClusterAllFailedError']) {
      const error = toStoreError(named(name, 'whatever the text'), context);
      expect(error.code).toBe('STORAGE_UNAVAILABLE');
    }
  });

  it('classifies a plain ioredis Error by how long the call took: timeout or unreachable', () => {
    const quick = toStoreError(new Error('any text'), { ...context, elapsedMs: 2 });
    expect(quick.code).toBe('STORAGE_UNAVAILABLE');
    const slow = toStoreError(new Error('any text'), { ...context, elapsedMs: 1_000.4 });
    expect(slow.code).toBe('STORAGE_TIMEOUT');
    expect(slow).toBeInstanceOf(StorageUnavailableError);
  });

  it('maps Node socket errors to STORAGE_UNAVAILABLE', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), {
      code: 'ECONNREFUSED',
      syscall: 'connect',
    });
    expect(toStoreError(refused, context).code).toBe('STORAGE_UNAVAILABLE');
  });

  it('passes session errors through and wraps programming errors and non-errors as INTERNAL', () => {
    const notFound = new SessionNotFoundError();
    expect(toStoreError(notFound, context)).toBe(notFound);
    const typeError = toStoreError(new TypeError('x is not a function'), context);
    expect(typeError.code).toBe('INTERNAL');
    const thrown = toStoreError('a string', context);
    expect(thrown).toBeInstanceOf(SessionError);
    expect(thrown.code).toBe('INTERNAL');
  });
});
