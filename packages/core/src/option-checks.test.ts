import { describe, expect, expectTypeOf, it } from 'vitest';
import { SessionValidationError } from './errors.js';
import { createOptionChecks, isOptionsObject } from './option-checks.js';
import type { OptionsOf } from './option-checks.js';

const check = createOptionChecks('Thing');

function errorOf(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('createOptionChecks', () => {
  it('names the owner and the field, with code INVALID_CONFIG', () => {
    const error = errorOf(() => check.integer(0, 'batch.size', 1, 10));
    expect(error).toMatchObject({ code: 'INVALID_CONFIG', field: 'batch.size' });
    expect((error as Error).message).toBe(
      'Thing option batch.size: expected an integer from 1 to 10',
    );
  });

  it('refuse carries the whole reason', () => {
    expect(check.refuse('a', 'pass either a or b')).toMatchObject({
      code: 'INVALID_CONFIG',
      field: 'a',
      message: 'Thing option a: pass either a or b',
    });
  });

  it('integer: absent is undefined; bounds, fractions, NaN and strings are refused', () => {
    expect(check.integer(undefined, 'n', 1)).toBeUndefined();
    expect(check.integer(5, 'n', 1, 5)).toBe(5);
    for (const bad of [0, 6, 1.5, Number.NaN, '3', 2 ** 60]) {
      expect(errorOf(() => check.integer(bad, 'n', 1, 5))).toMatchObject({ field: 'n' });
    }
    expect((errorOf(() => check.integer(-1, 'n', 0)) as Error).message).toContain('>= 0');
  });

  it("num(…, 'positive'), boolean, string, nonEmptyString", () => {
    const positive = check.num(undefined, 'positive');
    expect(positive(0.5, 'r')).toBe(0.5);
    expect(errorOf(() => positive(0, 'r'))).toMatchObject({ field: 'r' });
    expect(errorOf(() => positive(Infinity, 'r'))).toMatchObject({ field: 'r' });
    expect(check.boolean(false, 'b')).toBe(false);
    expect(errorOf(() => check.boolean('yes', 'b'))).toMatchObject({ field: 'b' });
    expect(check.string('', 's')).toBe('');
    expect(errorOf(() => check.string(1, 's'))).toMatchObject({ field: 's' });
    expect(check.nonEmptyString('x', 's')).toBe('x');
    expect(errorOf(() => check.nonEmptyString('', 's'))).toMatchObject({ field: 's' });
  });

  it('resolve: one table of rules, defaults applied, each error named by its option path', () => {
    const rules = {
      size: check.int(10, 1, 100),
      on: check.flag(true),
      mode: check.oneOf(['a', 'b'], 'a'),
      hook: check.fn<() => void>(),
      inner: check.section({ depth: check.int(undefined, 0) }),
    };
    expect(check.resolve(rules, {})).toEqual({
      size: 10,
      on: true,
      mode: 'a',
      hook: undefined,
      inner: { depth: undefined },
    });
    expect(check.resolve(rules, { size: 5, inner: { depth: 2 } })).toMatchObject({
      size: 5,
      inner: { depth: 2 },
    });
    for (const [options, field] of [
      [null, 'options'],
      [[], 'options'],
      [{ size: 0 }, 'size'],
      [{ on: 'yes' }, 'on'],
      [{ mode: 'c' }, 'mode'],
      [{ hook: 1 }, 'hook'],
      [{ inner: 5 }, 'inner'],
      [{ inner: { depth: -1 } }, 'inner.depth'],
      // A key the table does not name: a typo, not a silent default.
      [{ sise: 5 }, 'sise'],
      [{ inner: { dept: 2 } }, 'inner.dept'],
    ] as const) {
      const error = errorOf(() => check.resolve(rules, options));
      expect(error).toBeInstanceOf(SessionValidationError);
      expect(error).toMatchObject({ code: 'INVALID_CONFIG', field });
    }
  });

  it('resolve names the options a table takes when it refuses an unknown one', () => {
    const error = errorOf(() => check.resolve({ size: check.int(1, 1) }, { colour: 'blue' }));
    expect((error as Error).message).toBe('Thing option colour: no such option (one of size)');
  });

  it('a table gives its options type (required where the rule refuses absence) and its defaults', () => {
    const rules = {
      size: check.int(10, 1),
      name: check.accepting<string>()((value, field) => check.nonEmptyString(value, field)),
      extra: check.optional(check.section({ depth: check.int(3, 0) })),
      passed: check.typed<Date | undefined>(),
      limit: check.int(undefined, 1),
    };
    type Options = OptionsOf<typeof rules>;
    expectTypeOf<Options['name']>().toEqualTypeOf<string>();
    expectTypeOf<Options['size']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<Options['passed']>().toEqualTypeOf<Date | undefined>();
    expectTypeOf<{ name: string; extra: { depth: number } }>().toExtend<Options>();
    expectTypeOf<{ size: number }>().not.toExtend<Options>();
    // Required options (their rule throws) and default-less ones are left out.
    expect(check.defaults(rules)).toEqual({ size: 10 });
    expect(Object.isFrozen(check.defaults(rules))).toBe(true);
    expect(check.resolve(rules, { name: 'n' })).toMatchObject({
      extra: undefined,
      passed: undefined,
    });
    expect(check.resolve(rules, { name: 'n', extra: {} }).extra).toEqual({ depth: 3 });
    const error = errorOf(() => check.resolve(rules, { name: 'n', extra: { depth: -1 } }));
    expect(error).toMatchObject({ code: 'INVALID_CONFIG', field: 'extra.depth' });
  });

  it("given: another part's options passed on as they are, typed as that part has them", () => {
    const rules = { ...check.given<{ ttlMs?: number; name: string }>()('ttlMs', 'name') };
    type Options = OptionsOf<typeof rules>;
    expectTypeOf<Options['ttlMs']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<{ name: string }>().toExtend<Options>();
    expectTypeOf<{ ttlMs: number }>().not.toExtend<Options>();
    expect(check.resolve(rules, { ttlMs: -1, name: 5 })).toEqual({ ttlMs: -1, name: 5 });
    expect(errorOf(() => check.resolve(rules, { colour: 1 }))).toMatchObject({ field: 'colour' });
  });

  it('isOptionsObject: objects only, not arrays or null', () => {
    expect(isOptionsObject({})).toBe(true);
    expect(isOptionsObject([])).toBe(false);
    expect(isOptionsObject(null)).toBe(false);
  });
});
