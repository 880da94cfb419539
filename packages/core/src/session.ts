/** A JSON value as it survives a round trip through storage. */
export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * Session data: a flat map of top-level keys. Each top-level key is the unit
 * of a field-level {@link SessionPatch}; values may nest.
 */
export type SessionData = { [key: string]: JsonValue };

/** A stored session as every store returns it. */
export interface SessionRecord {
  readonly id: string;
  /** Owner, when the session is bound to a user (indexed for listByUser/deleteByUser). */
  readonly userId: string | undefined;
  readonly data: SessionData;
  /**
   * Monotonic per session, starts at 1, bumped by every save and patch: the
   * fencing token. A save with a stale expected version is rejected.
   */
  readonly version: number;
  /** Epoch ms. */
  readonly createdAt: number;
  /** Epoch ms of the last save or patch. */
  readonly updatedAt: number;
  /** Epoch ms after which the session is gone for every reader. */
  readonly expiresAt: number;
}

/** Field-level change set: keys to set (whole top-level values) and keys to remove. */
export interface SessionPatch {
  readonly set?: Readonly<SessionData>;
  readonly unset?: readonly string[];
}
