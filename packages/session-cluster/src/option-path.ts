import { SessionValidationError, createOptionChecks, isSessionError } from '@session-cluster/core';

/** The option checks of `createSessionCluster`, whose errors say `session-cluster option …`. */
export const clusterChecks = createOptionChecks('session-cluster');

/** `INVALID_CONFIG` for the option at `field` (a path such as `locks.nodes[1]`). */
export const invalidOption = clusterChecks.invalid;

/**
 * Build a part whose constructor validates its own options, and report its
 * `INVALID_CONFIG` errors under the cluster's option path: the part says
 * `nodes[1]`, the caller wrote `locks.nodes[1]`. The part's error is the `cause`.
 *
 * @param rename maps the part's field name to the cluster option path
 */
export function withOptionPath<T>(rename: (field: string) => string, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (!isSessionError(error) || error.code !== 'INVALID_CONFIG') throw error;
    const inner = error.details?.['field'];
    const field = rename(typeof inner === 'string' ? inner : 'options');
    throw new SessionValidationError(`session-cluster option ${field}: ${error.message}`, {
      code: 'INVALID_CONFIG',
      field,
      cause: error,
    });
  }
}

/** A {@link withOptionPath} renamer that puts the part's fields under `prefix`. */
export function under(prefix: string): (field: string) => string {
  return (field) => `${prefix}.${field}`;
}
