import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import { SessionValidationError } from './errors.js';

/** An options object as it arrives from a caller: anything may be in it. */
export type UncheckedOptions = Record<string, unknown>;

/**
 * One option's check: the value accepted (its default applied), or a thrown
 * `INVALID_CONFIG`. `I` is what callers may pass, for {@link OptionsOf} only
 * (`undefined` in it: the option may be left out).
 */
export type OptionRule<T, I = T> = ((value: unknown, field: string) => T) & {
  // Boxed: inference from an optional property would drop `undefined` from I.
  readonly accepts?: readonly [I];
};

/** A component's options as a table of {@link OptionRule}s, one per option name. */
export type OptionRules = Readonly<Record<string, OptionRule<unknown>>>;

/** What {@link OptionChecks.resolve} returns for a table of rules: each option's accepted value. */
export type ResolvedOptions<R extends OptionRules> = { readonly [K in keyof R]: ReturnType<R[K]> };

type Accepted<R> = R extends { readonly accepts?: readonly [infer I] } ? I : unknown;
type Optional<R> = undefined extends Accepted<R> ? true : false;

/**
 * The options a table of rules takes, as callers write them: an option is
 * optional when its rule accepts `undefined`. Each property keeps the TSDoc
 * of its table entry, so the table is where an option is documented.
 */
export type OptionsOf<R extends OptionRules> = {
  readonly [K in keyof R as Optional<R[K]> extends true ? K : never]?: Accepted<R[K]>;
} & {
  readonly [K in keyof R as Optional<R[K]> extends true ? never : K]: Accepted<R[K]>;
};

/** What {@link OptionChecks.defaults} returns: the value of each option that has a default. */
export type DefaultsOf<R extends OptionRules> = {
  readonly [
    K in keyof R as Optional<R[K]> extends true
      ? undefined extends ReturnType<R[K]>
        ? never
        : K
      : never
  ]: ReturnType<R[K]>;
};

/** The option checks of one component: see {@link createOptionChecks}. */
export type OptionChecks = ReturnType<typeof createOptionChecks>;

/** Longest delay a Node timer takes, ms: the upper bound of every timer option. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A non-null, non-array object. */
export function isOptionsObject(value: unknown): value is UncheckedOptions {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks of option values for one component, bound to the name its errors
 * carry (`ExpirySweeper option batchSize: expected …`). Each throws
 * `SessionValidationError` `INVALID_CONFIG` with `field` set to the option
 * path; callers branch on `code` and `field`, the message is for people.
 *
 * The value checks (`integer`, `boolean`, …) return the value accepted,
 * `undefined` for an absent optional one. The rule builders (`int`, `flag`,
 * `oneOf`, …) make {@link OptionRule}s with the default applied, for
 * `resolve`: a component's options are one table, checked once, by the
 * constructor that owns them.
 *
 * @example
 * ```ts
 * const check = createOptionChecks('ExpirySweeper');
 * const RULES = { batchSize: check.int(1_000, 1, 10_000), runWorker: check.flag(true) };
 * const { batchSize, runWorker } = check.resolve(RULES, options);
 * ```
 */
export function createOptionChecks(owner: string) {
  /** The `INVALID_CONFIG` error for `field`, with the whole `reason` ("pass either …"). */
  const refuse = (field: string, reason: string, cause?: unknown): SessionValidationError =>
    new SessionValidationError(`${owner} option ${field}: ${reason}`, {
      code: 'INVALID_CONFIG',
      field,
      ...(cause === undefined ? {} : { cause }),
    });
  /** The `INVALID_CONFIG` error for `field`, saying what was `expected`; `cause` when a parser threw. */
  const invalid = (field: string, expected: string, cause?: unknown): SessionValidationError =>
    refuse(field, `expected ${expected}`, cause);
  /** An optional integer in `[min, max]` (max defaults to the largest safe integer). */
  const integer = (value: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
      throw invalid(field, `an integer ${range}`);
    }
    return value;
  };
  /** An optional boolean. */
  const boolean = (value: unknown, field: string) => {
    if (value !== undefined && typeof value !== 'boolean') throw invalid(field, 'a boolean');
    return value;
  };
  /** An optional string. */
  const string = (value: unknown, field: string) => {
    if (value !== undefined && typeof value !== 'string') throw invalid(field, 'a string');
    return value;
  };
  /** Rule: an object whose `methods` are all functions (`fallback` when absent, else required). */
  const implementing =
    <T, D extends T | undefined = undefined>(
      methods: readonly string[],
      expected: string,
      fallback?: D,
    ): OptionRule<T, D extends undefined ? T : T | undefined> =>
    (value, field) => {
      const candidate = value ?? fallback;
      if (!isOptionsObject(candidate) || methods.some((m) => typeof candidate[m] !== 'function')) {
        throw invalid(field, expected);
      }
      return candidate as T;
    };
  const passOn = (value: unknown): unknown => value;
  /**
   * Check every option of `rules` in `options` (a non-array object), each
   * under `path + name`; a key the table does not name is refused, so a typo
   * is an error, not a silent default.
   */
  const resolve = <R extends OptionRules>(
    rules: R,
    options: unknown,
    path = '',
  ): ResolvedOptions<R> => {
    if (!isOptionsObject(options)) {
      throw invalid(path === '' ? 'options' : path.slice(0, -1), 'an options object');
    }
    for (const name of Object.keys(options)) {
      if (!Object.hasOwn(rules, name)) {
        throw refuse(`${path}${name}`, `no such option (one of ${Object.keys(rules).join(', ')})`);
      }
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
    boolean,
    string,
    /** A required non-empty string. */
    nonEmptyString: (value: unknown, field: string): string => {
      if (typeof value !== 'string' || value === '') throw invalid(field, 'a non-empty string');
      return value;
    },
    resolve,
    /** Rule: an integer in `[min, max]`, `fallback` when absent. */
    int:
      <D extends number | undefined>(
        fallback: D,
        min: number,
        max?: number,
      ): OptionRule<number | D, number | undefined> =>
      (value, field) =>
        integer(value, field, min, max) ?? fallback,
    /** Rule: a finite number in `[min, max]` (`> 0` when `min` is `'positive'`), `fallback` when absent. */
    num:
      <D extends number | undefined>(
        fallback: D,
        min: number | 'positive',
        max = Number.MAX_VALUE,
      ): OptionRule<number | D, number | undefined> =>
      (value, field) => {
        if (value === undefined) return fallback;
        const low = min === 'positive' ? Number.MIN_VALUE : min;
        if (typeof value !== 'number' || !Number.isFinite(value) || value < low || value > max) {
          const range =
            min === 'positive'
              ? 'finite number > 0'
              : max === Number.MAX_VALUE
                ? `finite number >= ${min}`
                : `number in [${min}, ${max}]`;
          throw invalid(field, `a ${range}`);
        }
        return value;
      },
    /** Rule: a boolean, `fallback` when absent. */
    flag:
      <D extends boolean | undefined>(fallback: D): OptionRule<boolean | D, boolean | undefined> =>
      (value, field) =>
        boolean(value, field) ?? fallback,
    /** Rule: one of `values`, `fallback` when absent. */
    oneOf:
      <const T, D extends T | undefined>(
        values: readonly T[],
        fallback: D,
      ): OptionRule<T | D, T | undefined> =>
      (value, field) => {
        if (value === undefined) return fallback;
        if (!(values as readonly unknown[]).includes(value)) {
          throw invalid(
            field,
            values.map((v) => (typeof v === 'string' ? `'${v}'` : v)).join(' | '),
          );
        }
        return value as T;
      },
    /** Rule: a string matching `pattern` (described by `expected`), `fallback` when absent. */
    matching:
      <D extends string | undefined>(
        pattern: RegExp,
        fallback: D,
        expected: string,
      ): OptionRule<string | D, string | undefined> =>
      (value, field) => {
        if (value === undefined) return fallback;
        if (typeof value !== 'string' || !pattern.test(value)) throw invalid(field, expected);
        return value;
      },
    /** Rule: an optional function, typed by the caller. */
    fn:
      <F>(): OptionRule<F | undefined> =>
      (value, field) => {
        if (value !== undefined && typeof value !== 'function') throw invalid(field, 'a function');
        return value as F | undefined;
      },
    implementing,
    /** Rule: a {@link Clock}, the system clock when absent. */
    clock: implementing<Clock, Clock>(['now'], 'an object with a now() method', systemClock),
    /** Rule: a nested options object checked by `rules` (absent: every default). */
    section:
      <R extends OptionRules>(rules: R): OptionRule<ResolvedOptions<R>, OptionsOf<R> | undefined> =>
      (value, field) =>
        resolve(rules, value === undefined ? {} : value, `${field}.`),
    /** Rule: `rule` for a given value, `undefined` for an absent one. */
    optional:
      <T, I>(rule: OptionRule<T, I>): OptionRule<T | undefined, I | undefined> =>
      (value, field) =>
        value === undefined ? undefined : rule(value, field),
    /** Rule: a value passed on as it is, to the part that checks it (typed only). */
    typed: <T>() => passOn as OptionRule<T>,
    /**
     * Rules passing the options `keys` of another part's options `T` on as
     * given, to that part, which checks them: typed (and documented) as `T` has them.
     */
    given:
      <T>() =>
      <K extends keyof T & string>(...keys: K[]) =>
        Object.fromEntries(keys.map((key) => [key, passOn])) as unknown as Pick<
          { readonly [P in keyof T]-?: OptionRule<T[P]> },
          K
        >,
    /** Rule: `rule` as written, declared to accept `I` (what {@link OptionsOf} shows callers). */
    accepting:
      <I>() =>
      <T>(rule: (value: unknown, field: string) => T): OptionRule<T, I> =>
        rule,
    /**
     * What each rule gives an absent option: a table's defaults, for a
     * `*_DEFAULTS` constant. Options without a default (`undefined`) and
     * required ones (their rule throws) are left out.
     */
    defaults: <R extends OptionRules>(rules: R): DefaultsOf<R> => {
      const defaults: Record<string, unknown> = {};
      for (const [name, rule] of Object.entries(rules)) {
        try {
          const value = rule(undefined, name);
          if (value !== undefined) defaults[name] = value;
        } catch {
          // A required option: it has no default.
        }
      }
      return Object.freeze(defaults) as DefaultsOf<R>;
    },
  };
}
