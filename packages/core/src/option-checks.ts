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
type Defaulted<R extends OptionRule<unknown>> =
  Optional<R> extends true ? (undefined extends ReturnType<R> ? false : true) : false;

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

/** What {@link OptionChecks.defaults} returns: the value of each optional option that has a default. */
export type DefaultsOf<R extends OptionRules> = {
  readonly [K in keyof R as Defaulted<R[K]> extends true ? K : never]: ReturnType<R[K]>;
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
 * carry (`ExpirySweeper option batchSize: expected …`): each throws
 * `SessionValidationError` `INVALID_CONFIG` with `field` set to the option
 * path. Value checks (`integer`, `boolean`, …) return the value accepted,
 * `undefined` when absent; rule builders (`int`, `flag`, `oneOf`, …) make
 * {@link OptionRule}s with the default applied, for one table per component
 * that its constructor checks once with `resolve`.
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
  const refuse = (field: string, reason: string, cause?: unknown) =>
    new SessionValidationError(`${owner} option ${field}: ${reason}`, {
      code: 'INVALID_CONFIG',
      field,
      ...(cause === undefined ? {} : { cause }),
    });
  /** The `INVALID_CONFIG` error for `field`, saying what was `expected`; `cause` when a parser threw. */
  const invalid = (field: string, expected: string, cause?: unknown) =>
    refuse(field, `expected ${expected}`, cause);
  /** Value check: `undefined`, or a value `valid` accepts (else refused as not `expected`). */
  const value =
    <T>(valid: (value: unknown) => value is T, expected: string) =>
    (candidate: unknown, field: string): T | undefined => {
      if (candidate !== undefined && !valid(candidate)) throw invalid(field, expected);
      return candidate;
    };
  /** An optional integer in `[min, max]` (max defaults to the largest safe integer). */
  const integer = (candidate: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
    value<number>(
      (v): v is number => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max,
      `an integer ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`}`,
    )(candidate, field);
  const boolean = value((v): v is boolean => typeof v === 'boolean', 'a boolean');
  /** Rule: what `check` accepts, `fallback` when absent. */
  const orDefault =
    <T, D extends T | undefined>(
      check: (candidate: unknown, field: string) => T | undefined,
      fallback: D,
    ): OptionRule<T | D, T | undefined> =>
    (candidate, field) =>
      check(candidate, field) ?? fallback;
  /** Rule: an object whose `methods` are all functions (`fallback` when absent, else required). */
  const implementing =
    <T, D extends T | undefined = undefined>(
      methods: readonly string[],
      expected: string,
      fallback?: D,
    ): OptionRule<T, D extends undefined ? T : T | undefined> =>
    (candidate, field) => {
      const it = candidate ?? fallback;
      if (!isOptionsObject(it) || methods.some((m) => typeof it[m] !== 'function')) {
        throw invalid(field, expected);
      }
      return it as T;
    };
  const passOn = (candidate: unknown): unknown => candidate;
  /**
   * Check every option of `rules` in `options` (a non-array object), each
   * under `path + name`; a key the table does not name is refused, so a typo
   * is an error, not a silent default.
   */
  const resolve = <R extends OptionRules>(rules: R, options: unknown, path = '') => {
    if (!isOptionsObject(options)) {
      throw invalid(path === '' ? 'options' : path.slice(0, -1), 'an options object');
    }
    const unknown = Object.keys(options).find((name) => !Object.hasOwn(rules, name));
    if (unknown !== undefined) {
      throw refuse(`${path}${unknown}`, `no such option (one of ${Object.keys(rules).join(', ')})`);
    }
    const entries = Object.entries(rules).map(([name, rule]) => [
      name,
      rule(options[name], `${path}${name}`),
    ]);
    return Object.fromEntries(entries) as ResolvedOptions<R>;
  };
  return {
    invalid,
    refuse,
    integer,
    /** An optional boolean. */
    boolean,
    /** Rule (and value check): an optional string. */
    string: orDefault(
      value((v): v is string => typeof v === 'string', 'a string'),
      undefined,
    ),
    /** A required non-empty string. */
    nonEmptyString: (candidate: unknown, field: string): string => {
      if (typeof candidate !== 'string' || candidate === '') {
        throw invalid(field, 'a non-empty string');
      }
      return candidate;
    },
    resolve,
    /** Rule: an integer in `[min, max]`, `fallback` when absent. */
    int: <D extends number | undefined>(fallback: D, min: number, max?: number) =>
      orDefault((candidate, field) => integer(candidate, field, min, max), fallback),
    /**
     * Rule: a finite number in `[min, max]` (`> 0` when `min` is `'positive'`; `< max` when
     * `below`), `fallback` when absent.
     */
    num: <D extends number | undefined>(
      fallback: D,
      min: number | 'positive',
      max = Number.MAX_VALUE,
      below = false,
    ) => {
      const low = min === 'positive' ? 0 : min;
      const range =
        max === Number.MAX_VALUE
          ? `a finite number ${min === 'positive' ? '> 0' : `>= ${min}`}`
          : `a number in ${min === 'positive' ? '(' : '['}${low}, ${max}${below ? ')' : ']'}`;
      const valid = (v: unknown): v is number =>
        typeof v === 'number' &&
        (min === 'positive' ? v > 0 : v >= low) &&
        (below ? v < max : v <= max);
      return orDefault(value(valid, range), fallback);
    },
    /** Rule: a boolean, `fallback` when absent. */
    flag: <D extends boolean | undefined>(fallback: D) => orDefault(boolean, fallback),
    /** Rule: one of `values`, `fallback` when absent; refused as not `expected` (default: the list). */
    oneOf: <const T, D extends T | undefined>(
      values: readonly T[],
      fallback: D,
      expected = values.map((v) => (typeof v === 'string' ? `'${v}'` : v)).join(' | '),
    ) =>
      orDefault(
        value((v): v is T => (values as readonly unknown[]).includes(v), expected),
        fallback,
      ),
    /** Rule: a string matching `pattern` (described by `expected`), `fallback` when absent. */
    matching: <D extends string | undefined>(pattern: RegExp, fallback: D, expected: string) =>
      orDefault(
        value((v): v is string => typeof v === 'string' && pattern.test(v), expected),
        fallback,
      ),
    /** Rule: an optional function, typed by the caller. */
    fn: <F>(): OptionRule<F | undefined> =>
      value((v): v is F => typeof v === 'function', 'a function'),
    implementing,
    /** Rule: a {@link Clock}, the system clock when absent. */
    clock: implementing<Clock, Clock>(['now'], 'an object with a now() method', systemClock),
    /** Rule: a nested options object checked by `rules` (absent: every default). */
    section:
      <R extends OptionRules>(rules: R): OptionRule<ResolvedOptions<R>, OptionsOf<R> | undefined> =>
      (candidate, field) =>
        resolve(rules, candidate ?? {}, `${field}.`),
    /** Rule: `true` (every default) or a section of `rules`; `false` and absence pass as they are. */
    toggle:
      <R extends OptionRules>(
        rules: R,
      ): OptionRule<ResolvedOptions<R> | false | undefined, OptionsOf<R> | boolean | undefined> =>
      (candidate, field) =>
        candidate === undefined || candidate === false
          ? candidate
          : resolve(rules, candidate === true ? {} : candidate, `${field}.`),
    /** Rule: `rule`, or `false` for none (resolved to `undefined`). */
    orFalse:
      <T, I>(rule: OptionRule<T, I>): OptionRule<T | undefined, I | false> =>
      (candidate, field) =>
        candidate === false ? undefined : rule(candidate, field),
    /** Rule: `rule` for a given value, `undefined` for an absent one. */
    optional:
      <T, I>(rule: OptionRule<T, I>): OptionRule<T | undefined, I | undefined> =>
      (candidate, field) =>
        candidate === undefined ? undefined : rule(candidate, field),
    /** Rule: a value passed on as it is, to the part that checks it (typed only). */
    typed: <T>() => passOn as OptionRule<T>,
    /** Rules passing options `keys` of another part's options `T` on to that part, which checks them. */
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
    /** A table's defaults, frozen: options without one and required ones are left out. */
    defaults: <R extends OptionRules>(rules: R) => {
      const defaultOf = ([name, rule]: [string, OptionRule<unknown>]) => {
        try {
          return [[name, rule(undefined, name)]].filter(([, value]) => value !== undefined);
        } catch {
          return []; // A required option: it has no default.
        }
      };
      return Object.freeze(
        Object.fromEntries(Object.entries(rules).flatMap(defaultOf)),
      ) as DefaultsOf<R>;
    },
  };
}
