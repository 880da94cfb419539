import { createSessionCodec, generateSessionId } from '@session-cluster/core';
import type { SessionRecord } from '@session-cluster/core';
import { describe, expect, it } from 'vitest';
import { REPLACING_PATCH_MAX_BYTES, replacingPatch } from './replacing-patch.js';
import {
  ENTRY_SEPARATOR,
  FIELD_SEPARATOR,
  FRAME_MAGIC,
  readSessionFrame,
  storedFrameEntries,
} from './session-frame.js';

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

  it('splices the keys into the entries the copy is stored with: kept values stay as stored', () => {
    const copy = copyOf({ a: 2.5, 'ü-key': 'grüße', gone: true, last: [1] });
    // As stored: `a` written as 2.50 (the same number), not as JSON.stringify
    // would write it now; the splice must leave that text alone.
    const rs = ENTRY_SEPARATOR;
    const us = FIELD_SEPARATOR;
    const stored = `${rs}"a"${us}2.50${rs}"ü-key"${us}"grüße"${rs}"gone"${us}true${rs}"last"${us}[1]`;
    const data = { a: 2.5, 'ü-key': 'neu', last: [1], '7': 'x' };
    const set: [string, string][] = [
      ['"ü-key"', '"neu"'],
      ['"7"', '"x"'],
    ];
    const built = replacingPatch(copy, data, set, NOW, undefined, 65_536, {
      entries: stored,
      unset: ['"gone"', '"absent"'],
    });
    // Replaced in place, removed dropped, new appended (the merge script's
    // order, not the object's, which puts the integer key '7' first).
    const entries = `${rs}"a"${us}2.50${rs}"ü-key"${us}"neu"${rs}"last"${us}[1]${rs}"7"${us}"x"`;
    expect(built?.entries).toBe(entries);
    expect(built?.z).toBe(Buffer.byteLength(entries) - 2 * 4);
    expect(built?.frame.endsWith(entries)).toBe(true);
    const state = readSessionFrame(copy.id, built?.frame ?? null, codec, NOW);
    expect(state).toEqual({ kind: 'live', record: { ...copy, data, version: 5, updatedAt: NOW } });
    // Without the stored entries every value is written out again from the data.
    const rewritten = replacingPatch(copy, data, set, NOW, undefined, 65_536);
    expect(rewritten?.entries).toBe(
      `${rs}"7"${us}"x"${rs}"a"${us}2.5${rs}"ü-key"${us}"neu"${rs}"last"${us}[1]`,
    );
  });

  it('over 16 changed keys, writes every value out from the data in one pass', () => {
    const rs = ENTRY_SEPARATOR;
    const us = FIELD_SEPARATOR;
    const changed = Array.from({ length: 17 }, (_, i) => `k${i}`);
    const copy = copyOf({ keep: 2.5, ...Object.fromEntries(changed.map((k) => [k, 0])) });
    // `keep` stored as 2.50: a splice would leave it so, the one pass writes 2.5.
    const stored = `${rs}"keep"${us}2.50` + changed.map((k) => `${rs}"${k}"${us}0`).join('');
    const data = { keep: 2.5, ...Object.fromEntries(changed.map((k) => [k, 1])) };
    const set = changed.map((k): [string, string] => [`"${k}"`, '1']);
    const built = replacingPatch(copy, data, set, NOW, undefined, 65_536, {
      entries: stored,
      unset: [],
    });
    expect(built?.entries).toBe(
      `${rs}"keep"${us}2.5` + changed.map((k) => `${rs}"${k}"${us}1`).join(''),
    );
    expect(readSessionFrame(copy.id, built?.frame ?? null, codec, NOW)).toMatchObject({
      kind: 'live',
      record: { data },
    });
  });
});

describe('storedFrameEntries', () => {
  it('gives the entries of a default-format frame as stored, and nothing for another format', () => {
    const copy = copyOf({ a: 1, b: 'x' });
    const built = replacingPatch(copy, { a: 1, b: 'x' }, [], NOW, undefined, 65_536);
    const frame = built?.frame ?? '';
    expect(storedFrameEntries(frame)).toBe(built?.entries);
    expect(storedFrameEntries(frame.slice(0, frame.indexOf(ENTRY_SEPARATOR)))).toBe('');
    // Legacy (SC1) and keyed (SC3) frames: their values are not what a
    // format-2 frame sent whole may carry.
    expect(storedFrameEntries(frame.replace(FRAME_MAGIC, 'SC1'))).toBeUndefined();
    expect(storedFrameEntries(frame.replace(FRAME_MAGIC, 'SC3'))).toBeUndefined();
  });
});
