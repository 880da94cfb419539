import { describe, expect, it } from 'vitest';
import {
  ConcurrentAccessError,
  SessionNotFoundError,
  SessionValidationError,
} from '@session-cluster/core';
import { expectSessionError } from './expect-session-error.js';

describe('expectSessionError', () => {
  it('returns the error when class and code match', async () => {
    const thrown = new ConcurrentAccessError('version_conflict', 'stale');
    const caught = await expectSessionError(
      Promise.reject(thrown),
      ConcurrentAccessError,
      'VERSION_CONFLICT',
    );
    expect(caught).toBe(thrown);
  });

  it('fails on a wrong class, a wrong code, or a promise that resolves', async () => {
    const conflict = new ConcurrentAccessError('version_conflict', 'stale');
    await expect(
      expectSessionError(Promise.reject(conflict), SessionNotFoundError, 'VERSION_CONFLICT'),
    ).rejects.toThrow();
    await expect(
      expectSessionError(Promise.reject(conflict), ConcurrentAccessError, 'LOCK_LOST'),
    ).rejects.toThrow();
    await expect(
      expectSessionError(Promise.resolve(1), SessionValidationError, 'INVALID_ARGUMENT'),
    ).rejects.toThrow(/resolved with 1/);
  });
});
