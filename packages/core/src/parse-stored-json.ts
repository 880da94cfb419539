import { FORBIDDEN_KEYS } from './input-validation.js';
import type { JsonValue } from './session.js';

// Text that could spell a forbidden key: literally, or through a `\u` escape
// (the only JSON escape that can produce letters). Text without any of these
// cannot contain such a key, so it skips the reviver, which costs a JS call
// per value. A false positive (`\\u` in a string) only takes the slow path.
const MAY_HOLD_FORBIDDEN_KEY = /__proto__|constructor|prototype|\\u/;

function rejectForbiddenKeys(key: string, value: unknown): unknown {
  if (FORBIDDEN_KEYS.has(key)) throw new SyntaxError(`forbidden key "${key}" in stored JSON`);
  return value;
}

/**
 * `JSON.parse` for text read from storage, which may be hostile: object keys
 * `__proto__`, `constructor` and `prototype` are refused at any depth, so a
 * decoded value can never carry them into app code that merges objects.
 * @throws SyntaxError (the caller wraps it as `SessionCorruptedError`) on bad JSON or a forbidden key
 */
export function parseStoredJson(text: string): JsonValue {
  return (
    MAY_HOLD_FORBIDDEN_KEY.test(text) ? JSON.parse(text, rejectForbiddenKeys) : JSON.parse(text)
  ) as JsonValue;
}
