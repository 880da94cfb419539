import { describe, expect, it } from 'vitest';
import { PooledIdGenerator } from './pooled-id-generator.js';

describe('PooledIdGenerator', () => {
  it('makes lowercase hex trace (32) and span (16) ids, distinct across pools', () => {
    const ids = new PooledIdGenerator();
    const seen = new Set<string>();
    for (let i = 0; i < 2_000; i += 1) {
      const traceId = ids.generateTraceId();
      const spanId = ids.generateSpanId();
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(spanId).toMatch(/^[0-9a-f]{16}$/);
      seen.add(traceId).add(spanId);
    }
    // 2 000 span ids span 4 pools: a pool reused without a refill would repeat ids.
    expect(seen.size).toBe(4_000);
  });

  it('never hands out an all-zero (invalid) id: it draws the next one', () => {
    let fills = 0;
    const ids = new PooledIdGenerator((bytes) => {
      fills += 1;
      // The first pool is all zeros, the next ones all 0xab.
      bytes.fill(fills === 1 ? 0 : 0xab);
    });
    expect(ids.generateSpanId()).toBe('ab'.repeat(8));
    expect(fills).toBe(2);
    expect(ids.generateSpanId()).toBe('ab'.repeat(8));
  });
});
