import { ConcurrentAccessError } from './errors.js';
import { hashSessionId } from './session-id.js';

/**
 * `VERSION_CONFLICT` of a compare-and-set write (a save, a fenced patch, a
 * regenerate under a held lock) whose expected version is no longer the
 * stored one: another writer got there first, or the caller's lease ran out.
 * `currentVersion` is `null` when the stored version is unreadable.
 */
export function versionConflictError(
  operation: string,
  id: string,
  expectedVersion: number | undefined,
  currentVersion: number | null,
): ConcurrentAccessError {
  return new ConcurrentAccessError(
    'version_conflict',
    'The session was changed by another writer',
    {
      operation,
      sessionIdHash: hashSessionId(id),
      details: { expectedVersion, currentVersion },
    },
  );
}
