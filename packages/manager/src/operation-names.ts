import type { SessionOperationName } from '@session-cluster/core';
import type { OperationName } from './manager-options.js';

/**
 * The name each manager operation is published under (`listByUser` →
 * `list_by_user`): the `operation` of its `session-cluster:operation`
 * message, and the `session.<operation>` span a subscriber makes of it.
 */
export const OPERATION_TELEMETRY_NAMES: Readonly<Record<OperationName, SessionOperationName>> =
  Object.freeze({
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
  });
