import { hashSessionId, isValidSessionId } from '@session-cluster/core';

/** Ids remembered at most; past it the memory is emptied and starts again. */
const DEFAULT_CAPACITY = 4_096;

/**
 * `hashSessionId` of the ids operation spans name, remembered: a session is
 * operated on again and again (each request of its user), and a SHA-256 of
 * the id costs ~0.5 µs against ~20 ns for the lookup — on every recorded
 * span. Bounded: once `capacity` ids are held, the memory is emptied in one
 * step (no per-entry bookkeeping on the hot path) and fills again. It holds
 * raw ids, as the instance cache does; they never leave it.
 */
export class SessionIdHashes {
  private readonly hashes = new Map<string, string>();

  public constructor(private readonly capacity: number = DEFAULT_CAPACITY) {}

  /** The hash of `id`; `undefined` when it is not a valid session id (then nothing is recorded). */
  public of(id: unknown): string | undefined {
    if (typeof id !== 'string') return undefined;
    let hashed = this.hashes.get(id);
    if (hashed === undefined) {
      if (!isValidSessionId(id)) return undefined;
      if (this.hashes.size >= this.capacity) this.hashes.clear();
      hashed = hashSessionId(id);
      this.hashes.set(id, hashed);
    }
    return hashed;
  }
}
