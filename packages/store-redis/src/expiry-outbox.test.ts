import { describe, expect, it } from 'vitest';
import { decodeOutboxBatch, encodeOutboxExpiries } from './expiry-outbox.js';
import type { SweptExpiry } from './expiry-outbox.js';

const expiries: SweptExpiry[] = [
  { id: 'a'.repeat(43), userId: 'ada', expiresAt: 1_700_000_000_000, bucket: 3, createdAt: 1 },
  {
    id: 'b'.repeat(43),
    userId: undefined,
    expiresAt: 1_700_000_000_001,
    bucket: 3,
    createdAt: undefined,
  },
];

describe('outbox batch encoding', () => {
  it('reads back what it writes: quadruples joined by US, as the sweep script writes them', () => {
    const value = encodeOutboxExpiries(expiries);
    expect(value).toBe(
      ['a'.repeat(43), 'ada', '1700000000000', '1', 'b'.repeat(43), '', '1700000000001', ''].join(
        '\x1f',
      ),
    );
    expect(decodeOutboxBatch(3, 'id', value)).toEqual({ id: 'id', bucket: 3, expiries });
  });

  it('reads the batches of earlier releases (quadruples joined by RS)', () => {
    const legacy = [
      ['a'.repeat(43), 'ada', '1700000000000', '1'].join('\x1f'),
      ['b'.repeat(43), '', '1700000000001', ''].join('\x1f'),
    ].join('\x1e');
    expect(decodeOutboxBatch(3, 'id', legacy)).toEqual({ id: 'id', bucket: 3, expiries });
  });

  it('refuses a value the sweep cannot have written', () => {
    expect(decodeOutboxBatch(3, 'id', 'x\x1fy\x1fz')).toBeUndefined();
    expect(decodeOutboxBatch(3, 'id', '\x1fada\x1f1\x1f')).toBeUndefined();
    expect(decodeOutboxBatch(3, 'id', 'x\x1fada\x1fsoon\x1f')).toBeUndefined();
  });
});
