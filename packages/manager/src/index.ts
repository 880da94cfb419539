export type {
  CleanupOptions,
  CreateSessionOptions,
  GetOptions,
  RegenerateOptions,
} from './session-manager.js';
export { CLEANUP_DEFAULTS, SessionManager } from './session-manager.js';
export type {
  ManagerRetryOptions,
  OperationName,
  ResolvedManagerOptions,
  SessionManagerOptions,
} from './manager-options.js';
export {
  MANAGER_OPERATIONS,
  SESSION_MANAGER_DEFAULTS,
  resolveManagerOptions,
  resolveManagerRetryOptions,
} from './manager-options.js';
export { withOperation } from './operation-error.js';
export type { ManagerTelemetryOptions } from './manager-telemetry.js';
export { OPERATION_TELEMETRY_NAMES } from './manager-telemetry.js';
