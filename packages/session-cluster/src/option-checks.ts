import { invalidOption } from './option-path.js';

/*
 * Checks of single option values. Each names the option path in its error
 * (`SessionValidationError` `INVALID_CONFIG`, see invalidOption) and returns
 * the checked value.
 */

/** Longest delay a Node timer takes, ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** An options object as it arrives: anything may be in it. */
export type Options = Record<string, unknown>;

/** A non-null, non-array object. */
export function isObject(value: unknown): value is Options {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An optional nested options object (`{}` when absent). */
export function section(value: unknown, field: string): Options {
  if (value === undefined) return {};
  if (!isObject(value)) throw invalidOption(field, 'an object');
  return value;
}

/** Refuse keys that are not options here (a typo is an error, not a silent default). */
export function onlyKeys(value: Options, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw invalidOption(
        `${path}${key}`,
        `no such option (expected one of ${allowed.join(', ')})`,
      );
    }
  }
}

/** An optional integer in `[min, max]`. */
export function integer(
  value: unknown,
  field: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidOption(field, `an integer from ${min} to ${max}`);
  }
  return value;
}

/** An optional finite number > 0. */
export function positiveNumber(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw invalidOption(field, 'a finite number > 0');
  }
  return value;
}

/** An optional boolean. */
export function boolean(value: unknown, field: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalidOption(field, 'a boolean');
  return value;
}

/** A required non-empty string. */
export function nonEmptyString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw invalidOption(field, 'a non-empty string');
  return value;
}

/** An optional string. */
export function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalidOption(field, 'a string');
  return value;
}

/** A required TCP port. */
export function port(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > 65_535) {
    throw invalidOption(field, 'an integer from 1 to 65535');
  }
  return value;
}

/** A required `redis://` or `rediss://` URL, parsed. */
export function redisUrl(value: unknown, field: string): URL {
  if (typeof value === 'string' && /^rediss?:\/\//.test(value)) {
    try {
      return new URL(value);
    } catch {
      // reported below
    }
  }
  throw invalidOption(field, 'a redis:// or rediss:// URL');
}

/** A required non-empty list of `{ host, port }`. */
export function addresses(value: unknown, field: string): { host: string; port: number }[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw invalidOption(field, 'a non-empty array of { host, port }');
  }
  return (value as unknown[]).map((item, i) => {
    if (!isObject(item)) throw invalidOption(`${field}[${i}]`, '{ host, port }');
    return {
      host: nonEmptyString(item['host'], `${field}[${i}].host`),
      port: port(item['port'], `${field}[${i}].port`),
    };
  });
}
