import { describe, expect, it } from 'vitest';
import {
  ConcurrentAccessError,
  SessionError,
  SessionValidationError,
  StorageUnavailableError,
  isSessionError,
  toSessionError,
} from './errors.js';

describe('SessionError', () => {
  it('takes category, severity and retryable from its code', () => {
    const e = new StorageUnavailableError('down', { timeout: true, operation: 'load' });
    expect(e.code).toBe('STORAGE_TIMEOUT');
    expect(e.category).toBe('storage');
    expect(e.retryable).toBe(true);
    expect(e.name).toBe('StorageUnavailableError');
    expect(e).toBeInstanceOf(SessionError);
  });

  it('says which concurrency failure it is', () => {
    const e = new ConcurrentAccessError('version_conflict', 'stale');
    expect(e.reason).toBe('version_conflict');
    expect(e.code).toBe('VERSION_CONFLICT');
    expect(new ConcurrentAccessError('already_exists', 'x').retryable).toBe(false);
  });

  it('serialises to a stable shape without the stack unless asked', () => {
    const e = new SessionValidationError('bad ttl', { field: 'ttl', cause: 'raw string cause' });
    const json = e.toJSON();
    expect(json).toEqual({
      name: 'SessionValidationError',
      code: 'INVALID_ARGUMENT',
      category: 'client',
      severity: 'low',
      retryable: false,
      message: 'bad ttl',
      details: { field: 'ttl' },
      cause: { name: 'Error', message: 'raw string cause' },
    });
    expect(e.field).toBe('ttl');
    expect(e.toJSON({ includeStack: true }).stack).toContain('SessionValidationError');
  });

  it('is recognised by brand across package copies', () => {
    const foreign = Object.assign(new Error('x'), { isSessionError: true });
    expect(isSessionError(foreign)).toBe(true);
    expect(isSessionError(new Error('x'))).toBe(false);
    expect(isSessionError({ isSessionError: true })).toBe(false);
  });

  it('normalises anything thrown', () => {
    const original = new TypeError('boom');
    const e = toSessionError(original, { operation: 'save' });
    expect(e.code).toBe('INTERNAL');
    expect(e.cause).toBe(original);
    expect(e.operation).toBe('save');
    expect(toSessionError(42).message).toBe('Non-error thrown: 42');
    const known = new ConcurrentAccessError('lock_lost', 'gone');
    expect(toSessionError(known)).toBe(known);
  });
});
