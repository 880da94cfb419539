export type {
  CleanupOptions,
  CreateSessionOptions,
  GetOptions,
  HeldRegenerateOptions,
  HeldSessionLock,
  ManagerPatchOptions,
  RegenerateOptions,
  UpdateOptions,
} from './session-manager.js';
export { CLEANUP_DEFAULTS, SessionManager } from './session-manager.js';
export type {
  ManagerRetryOptions,
  SessionManagerOptions,
  UpdateLockOptions,
} from './manager-options.js';
export {
  SESSION_MANAGER_DEFAULTS,
  UPDATE_LOCK_DEFAULTS,
  resolveManagerOptions,
} from './manager-options.js';
export type { UpdateLockMode, UpdateLockStats } from './escalating-update.js';
export { UPDATE_LOCK_MODES, isUpdateLockMode } from './escalating-update.js';
export { withOperation } from './operation-error.js';
export type { OperationName } from './operation-names.js';
export { MANAGER_OPERATIONS, OPERATION_TELEMETRY_NAMES } from './operation-names.js';
