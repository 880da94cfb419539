import type { SessionOperationName } from '@session-cluster/core';

/**
 * The name each manager operation is published under (`listByUser` →
 * `list_by_user`): the `operation` of its `session-cluster:operation`
 * message, and the `session.<operation>` span a subscriber makes of it.
 */
export const OPERATION_TELEMETRY_NAMES = Object.freeze({
  create: 'create',
  get: 'get',
  update: 'update',
  patch: 'patch',
  touch: 'touch',
  regenerate: 'regenerate',
  delete: 'delete',
  listByUser: 'list_by_user',
  deleteByUser: 'delete_by_user',
  cleanupExpired: 'cleanup_expired',
  lock: 'lock',
} as const satisfies Readonly<Record<string, SessionOperationName>>);

/** A public operation of the manager: health windows and retry settings are keyed by these. */
export type OperationName = keyof typeof OPERATION_TELEMETRY_NAMES;

/** Every {@link OperationName}. */
export const MANAGER_OPERATIONS = Object.freeze(
  Object.keys(OPERATION_TELEMETRY_NAMES) as OperationName[],
);
