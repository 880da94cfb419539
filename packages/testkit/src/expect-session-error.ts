import { expect } from 'vitest';
import { SessionValidationError } from '@session-cluster/core';
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

/**
 * Run `build`, assert it throws a `SessionValidationError` with code
 * `INVALID_CONFIG`, and return the error's `field` (the option path).
 * Checks class, code and field, never message text.
 *
 * @example
 * ```ts
 * expect(configErrorField(() => new MemoryStore({ maxSessions: 0 }))).toBe('maxSessions');
 * ```
 */
export function configErrorField(build: () => unknown): string | undefined {
  let value: unknown;
  try {
    value = build();
  } catch (error) {
    expect(error).toBeInstanceOf(SessionValidationError);
    expect((error as SessionValidationError).code).toBe('INVALID_CONFIG');
    return (error as SessionValidationError).field;
  }
  return expect.fail(`expected INVALID_CONFIG, but got ${describe(value)}`);
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
