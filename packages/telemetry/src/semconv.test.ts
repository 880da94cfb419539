import * as core from '@session-cluster/core';
import { SessionNotFoundError, generateSessionId, hashSessionId } from '@session-cluster/core';
import { describe, expect, it } from 'vitest';
import * as telemetry from './index.js';

describe('telemetry names', () => {
  it('are this package’s: core, which only publishes, exports no span, attribute, event or metric name', () => {
    const named = /^(?:SPAN|ATTR|EVENT|METRIC|OUTCOME)_/;
    expect(Object.keys(core).filter((name) => named.test(name))).toEqual([]);
    expect(Object.keys(core)).not.toContain('sessionErrorAttributes');
    expect(telemetry.SPAN_LOCK_ACQUIRE).toBe('session.lock.acquire');
    expect(telemetry.ATTR_SESSION_ID_HASH).toBe('session.id_hash');
    expect(telemetry.METRIC_SESSION_OPERATIONS).toBe('session.operations');
    // What publishers and subscribers share stays in core.
    expect(core.INSTRUMENTATION_SCOPE).toBe('@session-cluster');
  });

  it('describe a failure as the spans do: code (also as error.type), category, severity, retryability; ids masked', () => {
    const id = generateSessionId();
    const error = new SessionNotFoundError(`Session ${id} not found`);
    expect(telemetry.sessionErrorAttributes(error)).toEqual({
      [telemetry.ATTR_ERROR_TYPE]: 'SESSION_NOT_FOUND',
      [telemetry.ATTR_SESSION_ERROR_CODE]: 'SESSION_NOT_FOUND',
      [telemetry.ATTR_SESSION_ERROR_CATEGORY]: error.category,
      [telemetry.ATTR_SESSION_ERROR_SEVERITY]: error.severity,
      [telemetry.ATTR_SESSION_ERROR_RETRYABLE]: false,
    });
    const exception = telemetry.exceptionForSpan(error);
    expect(exception.code).toBe('SESSION_NOT_FOUND');
    expect(exception.message).not.toContain(id);
    expect(exception.message).toContain(hashSessionId(id));
    expect(telemetry.sessionErrorAttributes(new Error('boom'))).toMatchObject({
      [telemetry.ATTR_ERROR_TYPE]: 'INTERNAL',
    });
  });
});
