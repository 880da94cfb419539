import { createSessionCodec, generateSessionId } from '@session-cluster/core';
import type { SessionRecord } from '@session-cluster/core';
import { describe, expect, it } from 'vitest';
import { REPLACING_PATCH_MAX_BYTES, replacingPatch } from './replacing-patch.js';
import { FIELD_SEPARATOR, FRAME_MAGIC, readSessionFrame } from './session-frame.js';

const codec = createSessionCodec();
const NOW = 1_800_000_000_000;

function copyOf(data: SessionRecord['data'], userId?: string): SessionRecord {
  return {
    id: generateSessionId(),
    userId,
    data,
    version: 4,
    createdAt: NOW - 5_000,
    updatedAt: NOW - 1_000,
    expiresAt: NOW + 60_000,
  };
}

describe('replacingPatch', () => {
  it('builds the frame the loader reads back as the patched copy, checked and bumped', () => {
    const copy = copyOf({ a: 1, 'ü-key': 'grüße', gone: true }, 'owner-1');
    const data = { a: 2, 'ü-key': 'grüße', added: [1, { x: null }] };
    const built = replacingPatch(
      copy,
      data,
      [
        ['"a"', '2'],
        ['"added"', '[1,{"x":null}]'],
      ],
      NOW,
      undefined,
      65_536,
    );
    expect(built).toBeDefined();
    const us = FIELD_SEPARATOR;
    expect(built?.lead).toBe(`${FRAME_MAGIC}${us}4${us}${NOW + 60_000}${us}`);
    expect(built?.version).toBe(5);
    // z counts UTF-8 bytes of keys and values: "ü-key" and "grüße" hold two-byte characters.
    const z = [
      ['"a"', '2'],
      ['"ü-key"', '"grüße"'],
      ['"added"', '[1,{"x":null}]'],
    ].reduce((sum, [k, v]) => sum + Buffer.byteLength(k ?? '') + Buffer.byteLength(v ?? ''), 0);
    expect(built?.z).toBe(z);
    const state = readSessionFrame(copy.id, built?.frame ?? null, codec, NOW);
    expect(state).toEqual({
      kind: 'live',
      record: {
        ...copy,
        data,
        version: 5,
        updatedAt: NOW,
      },
    });
  });

  it('moves the expiry when given one, and binds the check to the id', () => {
    const copy = copyOf({ n: 0 });
    const built = replacingPatch(copy, { n: 1 }, [['"n"', '1']], NOW, NOW + 90_000, 65_536);
    const state = readSessionFrame(copy.id, built?.frame ?? null, codec, NOW);
    expect(state).toMatchObject({ kind: 'live', record: { expiresAt: NOW + 90_000 } });
    // The same frame under another id fails its check.
    expect(() => readSessionFrame(generateSessionId(), built?.frame ?? null, codec, NOW)).toThrow(
      /corrupted/,
    );
  });

  it('declines a session over maxBytes or over REPLACING_PATCH_MAX_BYTES (the merge answers)', () => {
    // { n: 0, s: 'abc' } weighs 12 bytes: '"n"' '0' and '"s"' '"abc"'.
    const copy = copyOf({ n: 0 });
    const value = JSON.stringify('x'.repeat(REPLACING_PATCH_MAX_BYTES));
    expect(
      replacingPatch(copy, { n: 0, big: 'x' }, [['"big"', value]], NOW, undefined, 1_000_000),
    ).toBeUndefined();
    expect(
      replacingPatch(copy, { n: 0, s: 'abc' }, [['"s"', '"abc"']], NOW, undefined, 11),
    ).toBeUndefined();
    expect(
      replacingPatch(copy, { n: 0, s: 'abc' }, [['"s"', '"abc"']], NOW, undefined, 12),
    ).toMatchObject({ z: 12 });
  });
});
