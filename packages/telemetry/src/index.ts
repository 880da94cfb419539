export type { Telemetry } from './start-telemetry.js';
export { DEFAULT_OTLP_ENDPOINT, startTelemetry } from './start-telemetry.js';
export type { OtlpProtocol, TelemetryOptions } from './telemetry-options.js';
export { resolveTelemetryOptions } from './telemetry-options.js';
export type { LoggerOptions } from './logger.js';
export { createLogger } from './logger.js';
export { redisStatement } from './redis-statement.js';
export { SessionIdMaskingProcessor } from './session-id-masking-processor.js';
export { startTelemetryIfConfigured, telemetryRequested } from './start-telemetry-if-configured.js';
export type {
  SessionInstrumentation,
  SessionInstrumentationOptions,
} from './session-instrumentation.js';
export { instrumentSessionCluster } from './session-instrumentation.js';
export type { CachedReadSpans } from './operation-tracing.js';
