import { isOptionsObject } from '@session-cluster/core';
import type { UncheckedOptions } from '@session-cluster/core';
import { clusterChecks, invalidOption } from './option-path.js';

/*
 * Checks of single option values. Each names the option path in its error
 * (`SessionValidationError` `INVALID_CONFIG`, see invalidOption) and returns
 * the checked value.
 */

/** A non-null, non-array object. */
export const isObject = isOptionsObject;

/** An optional nested options object (`{}` when absent). */
export function section(value: unknown, field: string): UncheckedOptions {
  if (value === undefined) return {};
  if (!isObject(value)) throw invalidOption(field, 'an object');
  return value;
}

/** Refuse keys that are not options here (a typo is an error, not a silent default). */
export function onlyKeys(value: UncheckedOptions, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw invalidOption(
        `${path}${key}`,
        `no such option (expected one of ${allowed.join(', ')})`,
      );
    }
  }
}

/** An optional boolean. */
export const boolean = clusterChecks.boolean;
/** A required non-empty string. */
export const nonEmptyString = clusterChecks.nonEmptyString;
/** An optional string. */
export const optionalString = clusterChecks.string;

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
