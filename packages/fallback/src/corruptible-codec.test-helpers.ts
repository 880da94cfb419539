import type {
  EncodedData,
  EncodedEntries,
  EncodedPatch,
  EncodedPatchEntries,
  JsonValue,
  SessionCodec,
  SessionData,
  SessionPatch,
} from '@session-cluster/core';

/**
 * The contract suite's codec with one extra power: {@link corrupt} makes a
 * stored field read back as raw garbage, which the real codec then has to
 * decode (and reject). `MemoryStore` keeps no other handle on its stored
 * fields that a test outside its package may reach, so this is how the
 * suite's `corruptField` reaches a MemoryStore primary. The garbage stays
 * until the session's data is written again.
 */
export class CorruptibleCodec implements SessionCodec {
  private readonly overrides = new Map<string, Map<string, string>>();

  public constructor(private readonly inner: SessionCodec) {}

  public get maxBytes(): number {
    return this.inner.maxBytes;
  }

  /** From now on `sessionId`'s field `key` reads back as `raw`. */
  public corrupt(sessionId: string, key: string, raw: string): void {
    let fields = this.overrides.get(sessionId);
    if (fields === undefined) {
      fields = new Map();
      this.overrides.set(sessionId, fields);
    }
    fields.set(key, raw);
  }

  public encodeData(sessionId: string, data: SessionData): EncodedData {
    const encoded = this.inner.encodeData(sessionId, data);
    this.overrides.delete(sessionId);
    return encoded;
  }

  public encodePatch(sessionId: string, patch: SessionPatch): EncodedPatch {
    const encoded = this.inner.encodePatch(sessionId, patch);
    const fields = this.overrides.get(sessionId);
    if (fields !== undefined) {
      for (const [key] of encoded.set.fields) fields.delete(key);
      for (const key of encoded.unset) fields.delete(key);
    }
    return encoded;
  }

  public decodeField(sessionId: string, key: string, encoded: string): JsonValue {
    return this.inner.decodeField(
      sessionId,
      key,
      this.overrides.get(sessionId)?.get(key) ?? encoded,
    );
  }

  public decodeData(
    sessionId: string,
    fields: Iterable<readonly [key: string, encoded: string]>,
  ): SessionData {
    const overrides = this.overrides.get(sessionId);
    if (overrides === undefined) return this.inner.decodeData(sessionId, fields);
    const replaced: [string, string][] = [];
    for (const [key, encoded] of fields) replaced.push([key, overrides.get(key) ?? encoded]);
    return this.inner.decodeData(sessionId, replaced);
  }

  public fieldBytes(key: string, encoded: string): number {
    return this.inner.fieldBytes(key, encoded);
  }

  // The entries form belongs to RedisStore, which checksums its frames
  // itself: no corruption to inject here.
  public encodeEntries(sessionId: string, data: SessionData): EncodedEntries {
    return this.inner.encodeEntries(sessionId, data);
  }

  public encodePatchEntries(sessionId: string, patch: SessionPatch): EncodedPatchEntries {
    return this.inner.encodePatchEntries(sessionId, patch);
  }

  public decodeEntry(sessionId: string, key: string, value: string): JsonValue {
    return this.inner.decodeEntry(sessionId, key, value);
  }
}
