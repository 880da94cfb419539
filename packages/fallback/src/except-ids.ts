import { SessionValidationError, assertValidSessionId } from '@session-cluster/core';
import type { DeleteByUserOptions } from '@session-cluster/core';

/**
 * The ids `deleteByUser` must keep, checked as every store checks them.
 * @throws SessionValidationError `INVALID_ARGUMENT` (field `options.except`) or `INVALID_SESSION_ID`
 */
export function exceptIds(options: DeleteByUserOptions | undefined): ReadonlySet<string> {
  if (options === undefined) return new Set();
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw new SessionValidationError('options must be an object', {
      field: 'options',
      operation: 'deleteByUser',
    });
  }
  const except: unknown = options.except;
  if (except === undefined) return new Set();
  if (!Array.isArray(except)) {
    throw new SessionValidationError('options.except must be an array of session ids', {
      field: 'options.except',
      operation: 'deleteByUser',
    });
  }
  const ids = new Set<string>();
  for (const id of except as unknown[]) {
    assertValidSessionId(id, 'deleteByUser');
    ids.add(id);
  }
  return ids;
}
