import { SessionValidationError } from './errors.js';

/** An options object as it arrives from a caller: anything may be in it. */
export type UncheckedOptions = Record<string, unknown>;

/**
 * Checks of single option values for one component, bound to the name its
 * errors carry (`ExpirySweeper option batchSize: expected …`). Each check
 * returns the value it accepted, `undefined` for an absent optional value,
 * and throws `SessionValidationError` `INVALID_CONFIG` with `field` set to the
 * option path otherwise. Callers branch on `code` and `field`; the message is
 * for people.
 */
export interface OptionChecks {
  /** The `INVALID_CONFIG` error for `field`, saying what was `expected`; `cause` when a parser threw. */
  readonly invalid: (field: string, expected: string, cause?: unknown) => SessionValidationError;
  /** The `INVALID_CONFIG` error for `field`, with the whole `reason` ("pass either …"). */
  readonly refuse: (field: string, reason: string, cause?: unknown) => SessionValidationError;
  /** An optional integer in `[min, max]` (max defaults to the largest safe integer). */
  readonly integer: (
    value: unknown,
    field: string,
    min: number,
    max?: number,
  ) => number | undefined;
  /** An optional finite number > 0. */
  readonly positiveNumber: (value: unknown, field: string) => number | undefined;
  /** An optional finite number in `[min, max]`. */
  readonly number: (value: unknown, field: string, min: number, max: number) => number | undefined;
  /** An optional boolean. */
  readonly boolean: (value: unknown, field: string) => boolean | undefined;
  /** An optional string. */
  readonly string: (value: unknown, field: string) => string | undefined;
  /** A required non-empty string. */
  readonly nonEmptyString: (value: unknown, field: string) => string;
  /**
   * The `telemetry` switch shared by the publishing components: whether they
   * publish on `SESSION_CHANNELS` (`undefined` → `true`).
   */
  readonly telemetry: (value: unknown, field?: string) => boolean;
}

/** Longest delay a Node timer takes, ms: the upper bound of every timer option. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A non-null, non-array object. */
export function isOptionsObject(value: unknown): value is UncheckedOptions {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Throw `INVALID_ARGUMENT` unless a method argument (an input or options
 * bag) is a non-null, non-array object. The message names the field, never
 * the value (it may be huge or hostile).
 */
export function assertObjectArgument(
  value: unknown,
  field: string,
  operation: string,
): asserts value is object {
  if (!isOptionsObject(value)) {
    throw new SessionValidationError(`${field} must be an object`, { field, operation });
  }
}

/**
 * {@link OptionChecks} whose errors name `owner`.
 *
 * @example
 * ```ts
 * const check = createOptionChecks('ExpirySweeper');
 * const batchSize = check.integer(options.batchSize, 'batchSize', 1, 10_000) ?? 1_000;
 * ```
 */
export function createOptionChecks(owner: string): OptionChecks {
  const refuse = (field: string, reason: string, cause?: unknown): SessionValidationError =>
    new SessionValidationError(`${owner} option ${field}: ${reason}`, {
      code: 'INVALID_CONFIG',
      field,
      ...(cause === undefined ? {} : { cause }),
    });
  const invalid = (field: string, expected: string, cause?: unknown): SessionValidationError =>
    refuse(field, `expected ${expected}`, cause);
  return {
    invalid,
    refuse,
    integer: (value, field, min, max = Number.MAX_SAFE_INTEGER) => {
      if (value === undefined) return undefined;
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
        throw invalid(
          field,
          max === Number.MAX_SAFE_INTEGER
            ? `an integer >= ${min}`
            : `an integer from ${min} to ${max}`,
        );
      }
      return value;
    },
    positiveNumber: (value, field) => {
      if (value === undefined) return undefined;
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
        throw invalid(field, 'a finite number > 0');
      }
      return value;
    },
    number: (value, field, min, max) => {
      if (value === undefined) return undefined;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
        throw invalid(field, `a number in [${min}, ${max}]`);
      }
      return value;
    },
    boolean: (value, field) => {
      if (value === undefined) return undefined;
      if (typeof value !== 'boolean') throw invalid(field, 'a boolean');
      return value;
    },
    string: (value, field) => {
      if (value === undefined) return undefined;
      if (typeof value !== 'string') throw invalid(field, 'a string');
      return value;
    },
    nonEmptyString: (value, field) => {
      if (typeof value !== 'string' || value === '') throw invalid(field, 'a non-empty string');
      return value;
    },
    telemetry: (value, field = 'telemetry') => {
      if (value === undefined) return true;
      if (typeof value !== 'boolean') throw invalid(field, 'a boolean');
      return value;
    },
  };
}
