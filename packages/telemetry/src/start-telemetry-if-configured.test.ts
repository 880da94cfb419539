import { describe, expect, it } from 'vitest';
import { startTelemetryIfConfigured, telemetryRequested } from './start-telemetry-if-configured.js';

describe('startTelemetryIfConfigured', () => {
  it('starts nothing unless OTEL_EXPORTER_OTLP_ENDPOINT is set and not empty', () => {
    expect(telemetryRequested({})).toBe(false);
    expect(telemetryRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: '' })).toBe(false);
    expect(telemetryRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBe(true);
    expect(startTelemetryIfConfigured({ serviceName: 'x' }, {})).toBeUndefined();
  });

  it('checks its options even when asked for nothing else', () => {
    expect(() =>
      startTelemetryIfConfigured(
        { serviceName: '' },
        { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1' },
      ),
    ).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', field: 'serviceName' }));
  });
});
