import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT_CONTEXT, context } from '@opentelemetry/api';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { generateSessionId, hashSessionId } from '@session-cluster/core';
import { AsyncLocalContextManager } from '@session-cluster/testkit';
import { createLogger } from './logger.js';

describe('createLogger', () => {
  const provider = new TracerProvider();
  const lines: string[] = [];
  const log = createLogger({
    serviceName: 'shop',
    level: 'debug',
    destination: {
      write: (line: string) => {
        lines.push(line);
      },
    },
  });
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalContextManager(ROOT_CONTEXT));
  });
  afterAll(async () => {
    context.disable();
    await provider.shutdown();
  });

  function last(): Record<string, unknown> {
    return JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>;
  }

  it('writes JSON with the trace_id and span_id of the active span', () => {
    provider.getTracer('t').startActiveSpan('work', (span) => {
      log.info({ cart: 3 }, 'updated');
      span.end();
      const line = last();
      expect(line).toMatchObject({
        level: 'info',
        service: 'shop',
        msg: 'updated',
        cart: 3,
        trace_id: span.spanContext().traceId,
        span_id: span.spanContext().spanId,
        trace_flags: '01',
      });
    });
    log.info('outside');
    expect(last()['trace_id']).toBeUndefined();
  });

  it('masks session ids in the message and in fields at any depth', () => {
    const sid = generateSessionId();
    const masked = `<sid:${hashSessionId(sid)}>`;
    log.warn(
      { sessionId: sid, nested: { ids: [sid] }, err: new Error(`lost ${sid}`) },
      `for ${sid}`,
    );
    const line = last();
    expect(line).toMatchObject({
      msg: `for ${masked}`,
      sessionId: masked,
      nested: { ids: [masked] },
    });
    expect(JSON.stringify(line['err'])).toContain(masked);
    expect(lines.at(-1)).not.toContain(sid);
  });
});
