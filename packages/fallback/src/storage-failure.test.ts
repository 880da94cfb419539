import {
  ConcurrentAccessError,
  SessionCorruptedError,
  SessionError,
  SessionNotFoundError,
  SessionValidationError,
  StorageUnavailableError,
} from '@session-cluster/core';
import { BrokenCircuitError, IsolatedCircuitError, TaskCancelledError } from 'cockatiel';
import { describe, expect, it } from 'vitest';
import { isStorageFailure, shouldFailOver } from './storage-failure.js';

describe('storage failure classification', () => {
  const cases: readonly (readonly [string, unknown, boolean, boolean])[] = [
    ['STORAGE_UNAVAILABLE', new StorageUnavailableError(), true, true],
    ['STORAGE_TIMEOUT', new StorageUnavailableError('slow', { timeout: true }), true, true],
    ['cockatiel timeout', new TaskCancelledError('timed out'), true, true],
    ['breaker open', new BrokenCircuitError(), false, true],
    ['breaker isolated', new IsolatedCircuitError(), false, true],
    ['not found', new SessionNotFoundError(), false, false],
    ['validation', new SessionValidationError('bad'), false, false],
    ['version conflict', new ConcurrentAccessError('version_conflict', 'moved on'), false, false],
    ['already exists', new ConcurrentAccessError('already_exists', 'taken'), false, false],
    ['corrupted (storage, not retryable)', new SessionCorruptedError(), false, false],
    ['internal', new SessionError('INTERNAL', 'bug'), false, false],
    ['plain error', new Error('boom'), false, false],
    ['not an error', 'STORAGE_UNAVAILABLE', false, false],
  ];

  for (const [label, error, storage, failOver] of cases) {
    it(`${label}: counts toward the breaker ${storage}, fails over ${failOver}`, () => {
      expect(isStorageFailure(error)).toBe(storage);
      expect(shouldFailOver(error)).toBe(failOver);
    });
  }
});
