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

  it('hands out the trace id it drew, hashed as a ratio sampler hashes its hex; a new draw replaces it', () => {
    const ids = new PooledIdGenerator();
    const hashOf = (traceId: string): number => {
      let hash = 0;
      for (let i = 0; i < 32; i += 8)
        hash = (hash ^ Number.parseInt(traceId.slice(i, i + 8), 16)) >>> 0;
      return hash;
    };
    for (let i = 0; i < 300; i += 1) {
      ids.drawTraceId();
      const hash = ids.drawTraceId();
      const traceId = ids.generateTraceId();
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(hashOf(traceId)).toBe(hash);
      // Handed out once: the next one is new.
      expect(ids.generateTraceId()).not.toBe(traceId);
    }
  });

  it('never hands out an all-zero trace id', () => {
    let fills = 0;
    const ids = new PooledIdGenerator((bytes) => {
      fills += 1;
      bytes.fill(0);
      // The second pool has one non-zero byte, in its second id.
      if (fills === 2) bytes[16 + 15] = 1;
    });
    expect(ids.generateTraceId()).toBe(`${'0'.repeat(30)}01`);
    expect(fills).toBe(2);
  });
});
