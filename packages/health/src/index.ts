export type { HealthMonitorOptions, HealthProbeOptions } from './health-options.js';
export { HEALTH_MONITOR_DEFAULTS } from './health-options.js';
export type {
  BreakerState,
  CacheHealth,
  HealthMonitorEvents,
  HealthRecorder,
  HealthReport,
  HealthStatus,
  LastErrorReport,
  LatencyReport,
  OperationHealth,
  OperationSample,
  ProbeReport,
  ProbeResult,
  RecoveryHealth,
  StatusChange,
} from './health-report.js';
export { HealthMonitor } from './health-monitor.js';
export type { HealthHandler, HealthHandlers, HealthHandlersOptions } from './health-handlers.js';
export { createHealthHandlers } from './health-handlers.js';
