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
  OperationName,
  ResolvedManagerOptions,
  ResolvedUpdateLockOptions,
  SessionManagerOptions,
  UpdateLockOptions,
} from './manager-options.js';
export {
  MANAGER_OPERATIONS,
  SESSION_MANAGER_DEFAULTS,
  UPDATE_LOCK_DEFAULTS,
  isUpdateLockMode,
  resolveManagerOptions,
} from './manager-options.js';
export type { UpdateLockMode, UpdateLockStats } from './escalating-update.js';
export { UPDATE_LOCK_MODES } from './escalating-update.js';
export { withOperation } from './operation-error.js';
export { OPERATION_TELEMETRY_NAMES } from './operation-names.js';
