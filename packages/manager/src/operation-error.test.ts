import { describe, expect, it } from 'vitest';
import {
  ConcurrentAccessError,
  SessionError,
  SessionValidationError,
  isSessionError,
} from '@session-cluster/core';
import { withOperation } from './operation-error.js';

describe('withOperation', () => {
  it('wraps anything that is not a SessionError as INTERNAL with the cause', () => {
    const cause = new TypeError('boom');
    const error = withOperation(cause, 'get');
    expect(error).toBeInstanceOf(SessionError);
    expect(error).toMatchObject({ code: 'INTERNAL', operation: 'get', cause });
  });

  it('returns an error that already names the operation unchanged', () => {
    const original = new SessionValidationError('bad', { operation: 'get', field: 'id' });
    expect(withOperation(original, 'get')).toBe(original);
  });

  it('relabels a copy, keeping class, code, fields and the inner operation', () => {
    const cause = new Error('vote');
    const original = new ConcurrentAccessError('lock_not_acquired', 'held', {
      operation: 'lock.acquire',
      sessionIdHash: 'abc123',
      cause,
      details: { outcome: 'contended' },
    });
    const copy = withOperation(original, 'update');
    expect(copy).not.toBe(original);
    expect(copy).toBeInstanceOf(ConcurrentAccessError);
    expect(isSessionError(copy)).toBe(true);
    expect(copy).toMatchObject({
      code: 'LOCK_NOT_ACQUIRED',
      reason: 'lock_not_acquired',
      message: 'held',
      operation: 'update',
      sessionIdHash: 'abc123',
      cause,
      details: { outcome: 'contended', innerOperation: 'lock.acquire' },
    });
    expect(copy.stack).toBe(original.stack);
    expect(copy.toJSON()).toMatchObject({ operation: 'update', code: 'LOCK_NOT_ACQUIRED' });
    // The original is untouched: other awaiters of it see what was thrown.
    expect(original.operation).toBe('lock.acquire');
  });

  it('sets the operation on an error that had none', () => {
    const original = new SessionValidationError('bad', { field: 'data' });
    const copy = withOperation(original, 'create');
    expect(copy).toBeInstanceOf(SessionValidationError);
    expect(copy).toHaveProperty('field', 'data');
    expect(copy.operation).toBe('create');
    expect(copy.details).toEqual({ field: 'data' });
  });
});
