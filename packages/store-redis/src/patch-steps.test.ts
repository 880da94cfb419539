import type { SessionRecord } from '@session-cluster/core';
import { describe, expect, it } from 'vitest';
import { PatchSteps } from './patch-steps.js';
import type { PatchStep } from './patch-steps.js';
import { frameBytes } from './session-frame.js';

const ID = 'sid';
const TTL = 60_000;

const copy: SessionRecord = {
  id: ID,
  userId: 'u1',
  data: { a: 1, b: 2, c: 3 },
  version: 4,
  createdAt: 1_000,
  updatedAt: 2_000,
  expiresAt: 90_000,
};

function step(version: number, changes: Partial<PatchStep> = {}): PatchStep {
  return {
    version,
    set: {},
    unset: [],
    updatedAt: 3_000 + version,
    expiresAt: undefined,
    z: 10 * version,
    bytes: 10,
    ...changes,
  };
}

describe('PatchSteps', () => {
  it('carries a copy through the steps that follow it, in version order, as the scripts merge', () => {
    const steps = new PatchSteps(10, 1_000, TTL);
    // Heard back out of order: the replies of parallel writes.
    steps.add(ID, step(6, { set: { a: 'six', d: 6 }, expiresAt: 120_000 }), 0);
    steps.add(ID, step(5, { set: { b: 'five' }, unset: ['a'] }), 0);
    const replayed = steps.replay(ID, copy, 0);
    expect(replayed?.record).toEqual({
      ...copy,
      data: { b: 'five', c: 3, a: 'six', d: 6 },
      version: 6,
      updatedAt: 3_006,
      expiresAt: 120_000,
    });
    // Removed, then set again: appended, as the merge does.
    expect(Object.keys(replayed?.record.data ?? {})).toEqual(['b', 'c', 'a', 'd']);
    expect(replayed?.bytes).toBe(frameBytes(60, 4));
    // Replayed steps are gone.
    expect(steps.replay(ID, replayed!.record, 0)).toBeUndefined();
  });

  it('stops at a version it did not write, and resumes from a copy past it', () => {
    const steps = new PatchSteps(10, 1_000, TTL);
    steps.add(ID, step(5, { set: { n: 5 } }), 0);
    steps.add(ID, step(7, { set: { n: 7 } }), 0);
    const first = steps.replay(ID, copy, 0);
    expect(first?.record).toMatchObject({ version: 5, data: { n: 5 } });
    // Version 6 (another instance's) is not known: no step past the gap.
    expect(steps.replay(ID, first!.record, 0)).toBeUndefined();
    const six = { ...first!.record, version: 6, data: { other: true } };
    expect(steps.replay(ID, six, 0)?.record).toMatchObject({
      version: 7,
      data: { other: true, n: 7 },
    });
  });

  it('keeps expiry when a step sets none; nothing to replay without steps or past the copy', () => {
    const steps = new PatchSteps(10, 1_000, TTL);
    expect(steps.replay(ID, copy, 0)).toBeUndefined();
    steps.add(ID, step(3, { set: { old: true } }), 0);
    expect(steps.replay(ID, copy, 0)).toBeUndefined();
    steps.add(ID, step(5, { set: { x: 1 } }), 0);
    expect(steps.replay(ID, copy, 0)?.record.expiresAt).toBe(copy.expiresAt);
  });

  it('forgets steps older than its time, a new session under the id, and the oldest session past its bound', () => {
    const steps = new PatchSteps(3, 1_000, TTL);
    steps.add(ID, step(5), 0);
    expect(steps.replay(ID, copy, TTL)).toBeUndefined();
    expect(steps.size).toEqual({ steps: 0, bytes: 0 });
    steps.add(ID, step(5), 0);
    steps.forget(ID);
    expect(steps.replay(ID, copy, 0)).toBeUndefined();
    expect(steps.size).toEqual({ steps: 0, bytes: 0 });
    steps.add(ID, step(5), 0);
    steps.add(ID, step(6), 0);
    steps.add('two', step(5), 0);
    // Four steps past the bound of three: the session noted first leaves.
    steps.add('three', step(5), 0);
    expect(steps.size).toEqual({ steps: 2, bytes: 20 });
    expect(steps.replay(ID, copy, 0)).toBeUndefined();
    expect(steps.replay('three', { ...copy, id: 'three' }, 0)?.record.version).toBe(5);
    expect(steps.replay('two', { ...copy, id: 'two' }, 0)?.record.version).toBe(5);
    expect(steps.size).toEqual({ steps: 0, bytes: 0 });
  });

  it('holds at most maxBytes of values: the session noted first leaves first', () => {
    const steps = new PatchSteps(100, 25, TTL);
    steps.add(ID, step(5), 0);
    steps.add('two', step(5), 0);
    // Noted again, a step is not counted twice.
    steps.add('two', step(5), 0);
    expect(steps.size).toEqual({ steps: 2, bytes: 20 });
    steps.add('two', step(6), 0);
    expect(steps.size).toEqual({ steps: 2, bytes: 20 });
    expect(steps.replay(ID, copy, 0)).toBeUndefined();
    expect(steps.replay('two', { ...copy, id: 'two' }, 0)?.record.version).toBe(6);
  });

  it('keeps at most 64 steps of a session: the oldest leave first', () => {
    const steps = new PatchSteps(1_000, 100_000, TTL);
    for (let version = 5; version < 5 + 65; version++) steps.add(ID, step(version), 0);
    expect(steps.size).toEqual({ steps: 64, bytes: 640 });
    expect(steps.replay(ID, copy, 0)).toBeUndefined();
    expect(steps.replay(ID, { ...copy, version: 5 }, 0)?.record.version).toBe(69);
  });
});
