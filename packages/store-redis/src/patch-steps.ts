import type { SessionData, SessionRecord } from '@session-cluster/core';
import { frameBytes } from './session-frame.js';

/**
 * A patch this instance wrote whose result it did not see (parallel writes
 * of one session: the write ran on a version its copy did not hold). A
 * patch script always writes the next version of what it read
 * (patchSession-2.lua, replaceSession-2.lua), so the session at `version`
 * is exactly the session at `version - 1` with these keys removed, then
 * set: whoever holds that copy knows what Redis held after the patch.
 */
export interface PatchStep {
  /** The version the patch wrote. */
  readonly version: number;
  /** The keys it set, decoded as a read decodes them. */
  readonly set: SessionData;
  /** The keys it removed. */
  readonly unset: readonly string[];
  /** Its time: the frame's `updatedAt`. */
  readonly updatedAt: number;
  /** The expiry it set, `undefined` when it kept the copy's. */
  readonly expiresAt: number | undefined;
  /** Σ bytes of the entries' keys and values after it (the frame's `z`, in the script's reply). */
  readonly z: number;
  /** What its own values take (their encoded bytes): what it holds, counted against `maxBytes`. */
  readonly bytes: number;
}

/** Most steps kept per session: a longer burst is not replayed past its oldest steps. */
const MAX_STEPS_PER_SESSION = 64;

/**
 * The {@link PatchStep}s of this instance's own patches, per session, until
 * a copy they follow is set aside (`SessionCache`): that copy is then
 * carried forward through every step that follows it without a gap. A gap
 * is a version this instance did not write (another instance's write, a
 * save or merge) or has not heard back about yet: replay stops there, and
 * resumes when a copy past it appears.
 *
 * Touches keep the version, so a touch among the steps leaves the replayed
 * copy with an older expiry than Redis: a patch sent whole on it is then
 * refused by its lead (one more call), and an outage fallback's session
 * ends earlier — never newer data than Redis held.
 *
 * Bounded like the cache it serves: at most `maxSteps` steps and `maxBytes`
 * of values in all (the session noted first leaves first: a gap another
 * instance's write left in it may never close), and
 * {@link MAX_STEPS_PER_SESSION} per session; a step leaves after `ttlMs`.
 */
export class PatchSteps {
  private readonly bySession = new Map<string, Map<number, HeldStep>>();
  private count = 0;
  private bytes = 0;

  public constructor(
    private readonly maxSteps: number,
    private readonly maxBytes: number,
    private readonly ttlMs: number,
  ) {}

  /** Note an own patch of `id` whose result is not known. */
  public add(id: string, step: PatchStep, now: number): void {
    let steps = this.bySession.get(id);
    if (steps === undefined) {
      steps = new Map();
      this.bySession.set(id, steps);
    }
    this.drop(steps, step.version);
    steps.set(step.version, { step, at: now });
    this.count += 1;
    this.bytes += step.bytes;
    if (steps.size > MAX_STEPS_PER_SESSION) this.drop(steps, Math.min(...steps.keys()));
    for (const [oldest, held] of this.bySession) {
      if (this.count <= this.maxSteps && this.bytes <= this.maxBytes) break;
      this.forget(oldest, held);
    }
  }

  /**
   * `copy` carried forward through the steps that follow it without a gap
   * (and are younger than `ttlMs`), with its frame's length as the cache
   * counts it ({@link frameBytes}); `undefined` when no step follows it.
   * Steps at or below the version reached are dropped: they are in the copy.
   */
  public replay(
    id: string,
    copy: SessionRecord,
    now: number,
  ): { readonly record: SessionRecord; readonly bytes: number } | undefined {
    const steps = this.bySession.get(id);
    if (steps === undefined) return undefined;
    let record = copy;
    let z: number | undefined;
    for (
      let next = steps.get(record.version + 1);
      next !== undefined && next.at + this.ttlMs > now;
      next = steps.get(record.version + 1)
    ) {
      record = applied(record, next.step);
      z = next.step.z;
    }
    for (const [version, { at }] of steps) {
      if (version <= record.version || at + this.ttlMs <= now) this.drop(steps, version);
    }
    if (steps.size === 0) this.bySession.delete(id);
    if (z === undefined) return undefined;
    return { record, bytes: frameBytes(z, Object.keys(record.data).length) };
  }

  /** Forget the steps of `id` (a new session under it: its versions start again). */
  public forget(id: string, steps = this.bySession.get(id)): void {
    if (steps === undefined) return;
    for (const version of [...steps.keys()]) this.drop(steps, version);
    this.bySession.delete(id);
  }

  /** Steps held, and the bytes of their values, in all sessions. */
  public get size(): { readonly steps: number; readonly bytes: number } {
    return { steps: this.count, bytes: this.bytes };
  }

  private drop(steps: Map<number, HeldStep>, version: number): void {
    const held = steps.get(version);
    if (held === undefined) return;
    steps.delete(version);
    this.count -= 1;
    this.bytes -= held.step.bytes;
  }
}

interface HeldStep {
  readonly step: PatchStep;
  readonly at: number;
}

/** `record` after `step`, as the patch scripts merge: kept and replaced keys in place, new ones appended. */
function applied(record: SessionRecord, step: PatchStep): SessionRecord {
  const removed = new Set(step.unset);
  const data: SessionData = {};
  for (const [key, value] of Object.entries(record.data)) {
    if (!removed.has(key)) data[key] = value;
  }
  for (const [key, value] of Object.entries(step.set)) data[key] = value;
  return {
    ...record,
    data,
    version: step.version,
    updatedAt: step.updatedAt,
    expiresAt: step.expiresAt ?? record.expiresAt,
  };
}
