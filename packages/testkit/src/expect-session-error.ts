import { expect } from 'vitest';
import type { SessionError, SessionErrorCode } from '@session-cluster/core';

/** A {@link SessionError} subclass constructor, as passed to `toBeInstanceOf`. */
export type SessionErrorClass<E extends SessionError = SessionError> = abstract new (
  ...args: never[]
) => E;

/**
 * Await `promise`, assert it rejects with an instance of `errorClass` carrying
 * `code`, and return the error for further checks. Checks class and code,
 * never message text.
 *
 * @example
 * ```ts
 * await expectSessionError(store.save(id, input, 7), ConcurrentAccessError, 'VERSION_CONFLICT');
 * ```
 */
export async function expectSessionError<E extends SessionError>(
  promise: Promise<unknown>,
  errorClass: SessionErrorClass<E>,
  code: SessionErrorCode,
): Promise<E> {
  let outcome: { readonly settled: 'resolved'; readonly value: unknown } | undefined;
  try {
    outcome = { settled: 'resolved', value: await promise };
  } catch (error) {
    expect(error).toBeInstanceOf(errorClass);
    expect((error as E).code).toBe(code);
    return error as E;
  }
  return expect.fail(
    `expected a ${errorClass.name} (${code}), but the promise resolved with ${describe(outcome.value)}`,
  );
}

function describe(value: unknown): string {
  try {
    // JSON.stringify returns undefined for undefined, functions and symbols.
    const json: unknown = JSON.stringify(value);
    return typeof json === 'string' ? json : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
