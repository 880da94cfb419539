import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import { SessionValidationError } from './errors.js';

/** An options object as it arrives from a caller: anything may be in it. */
export type UncheckedOptions = Record<string, unknown>;

/** One option's check: the value accepted (its default applied), or a thrown `INVALID_CONFIG`. */
export type OptionRule<T> = (value: unknown, field: string) => T;

/** A component's options as a table of {@link OptionRule}s, one per option name. */
export type OptionRules = Readonly<Record<string, OptionRule<unknown>>>;

/** What {@link OptionChecks.resolve} returns for a table of rules: each option's accepted value. */
export type ResolvedOptions<R extends OptionRules> = {
  readonly [K in keyof R]: ReturnType<R[K]>;
};

/**
 * Checks of option values for one component, bound to the name its errors
 * carry (`ExpirySweeper option batchSize: expected …`). Each throws
 * `SessionValidationError` `INVALID_CONFIG` with `field` set to the option
 * path. Callers branch on `code` and `field`; the message is for people.
 *
 * The value checks return the value accepted, `undefined` for an absent
 * optional one. The rule builders (`int`, `flag`, `oneOf`, …) make
 * {@link OptionRule}s with the default applied, for {@link resolve}: a
 * component's options are one table, checked once, by its constructor.
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
  /**
   * Check every option of `rules` in `options` (a non-array object), each
   * under the field `path + name`.
   */
  readonly resolve: <R extends OptionRules>(
    rules: R,
    options: unknown,
    path?: string,
  ) => ResolvedOptions<R>;
  /** Rule: an integer in `[min, max]`, `fallback` when absent. */
  readonly int: <D extends number | undefined>(
    fallback: D,
    min: number,
    max?: number,
  ) => OptionRule<number | D>;
  /** Rule: a finite number in `[min, max]` (`> 0` when `min` is `'positive'`), `fallback` when absent. */
  readonly num: <D extends number | undefined>(
    fallback: D,
    min: number | 'positive',
    max?: number,
  ) => OptionRule<number | D>;
  /** Rule: a boolean, `fallback` when absent. */
  readonly flag: <D extends boolean | undefined>(fallback: D) => OptionRule<boolean | D>;
  /** Rule: one of `values`, `fallback` when absent. */
  readonly oneOf: <const T, D extends T | undefined>(
    values: readonly T[],
    fallback: D,
  ) => OptionRule<T | D>;
  /** Rule: a string matching `pattern` (described by `expected`), `fallback` when absent. */
  readonly matching: <D extends string | undefined>(
    pattern: RegExp,
    fallback: D,
    expected: string,
  ) => OptionRule<string | D>;
  /** Rule: an optional function, typed by the caller. */
  readonly fn: <F>() => OptionRule<F | undefined>;
  /** Rule: an object whose `methods` are all functions (`fallback` when absent), typed by the caller. */
  readonly implementing: <T>(
    methods: readonly string[],
    expected: string,
    fallback?: T,
  ) => OptionRule<T>;
  /** Rule: a {@link Clock}, the system clock when absent. */
  readonly clock: OptionRule<Clock>;
  /** Rule: a nested options object checked by `rules` (absent: every default). */
  readonly section: <R extends OptionRules>(rules: R) => OptionRule<ResolvedOptions<R>>;
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
 * const RULES = { batchSize: check.int(1_000, 1, 10_000), runWorker: check.flag(true) };
 * const { batchSize, runWorker } = check.resolve(RULES, options);
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
  const integer = (value: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
      throw invalid(field, `an integer ${range}`);
    }
    return value;
  };
  const number = (value: unknown, field: string, min: number, max: number) => {
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      throw invalid(field, `a number in [${min}, ${max}]`);
    }
    return value;
  };
  const positiveNumber = (value: unknown, field: string) => {
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw invalid(field, 'a finite number > 0');
    }
    return value;
  };
  const boolean = (value: unknown, field: string) => {
    if (value !== undefined && typeof value !== 'boolean') throw invalid(field, 'a boolean');
    return value;
  };
  const implementing =
    <T>(methods: readonly string[], expected: string, fallback?: T): OptionRule<T> =>
    (value, field) => {
      const candidate = value ?? fallback;
      if (!isOptionsObject(candidate) || methods.some((m) => typeof candidate[m] !== 'function')) {
        throw invalid(field, expected);
      }
      return candidate as T;
    };
  const resolve = <R extends OptionRules>(rules: R, options: unknown, path = '') => {
    if (!isOptionsObject(options)) {
      throw invalid(path === '' ? 'options' : path.slice(0, -1), 'an options object');
    }
    const resolved: Record<string, unknown> = {};
    for (const [name, rule] of Object.entries(rules)) {
      resolved[name] = rule(options[name], `${path}${name}`);
    }
    return resolved as ResolvedOptions<R>;
  };
  return {
    invalid,
    refuse,
    integer,
    positiveNumber,
    number,
    boolean: (value, field) => boolean(value, field),
    string: (value, field) => {
      if (value !== undefined && typeof value !== 'string') throw invalid(field, 'a string');
      return value;
    },
    nonEmptyString: (value, field) => {
      if (typeof value !== 'string' || value === '') throw invalid(field, 'a non-empty string');
      return value;
    },
    telemetry: (value, field = 'telemetry') => boolean(value, field) ?? true,
    resolve,
    int: (fallback, min, max) => (value, field) => integer(value, field, min, max) ?? fallback,
    num: (fallback, min, max = Number.MAX_VALUE) =>
      min === 'positive'
        ? (value, field) => positiveNumber(value, field) ?? fallback
        : (value, field) => number(value, field, min, max) ?? fallback,
    flag: (fallback) => (value, field) => boolean(value, field) ?? fallback,
    oneOf: (values, fallback) => (value, field) => {
      if (value === undefined) return fallback;
      if (!(values as readonly unknown[]).includes(value)) {
        throw invalid(field, values.map((v) => (typeof v === 'string' ? `'${v}'` : v)).join(' | '));
      }
      return value as (typeof values)[number];
    },
    matching: (pattern, fallback, expected) => (value, field) => {
      if (value === undefined) return fallback;
      if (typeof value !== 'string' || !pattern.test(value)) throw invalid(field, expected);
      return value;
    },
    fn: () => (value, field) => {
      if (value !== undefined && typeof value !== 'function') throw invalid(field, 'a function');
      return value as never;
    },
    implementing,
    clock: implementing<Clock>(['now'], 'an object with a now() method', systemClock),
    section: (rules) => (value, field) =>
      resolve(rules, value === undefined ? {} : value, `${field}.`),
  };
}
