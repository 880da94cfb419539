import { ConcurrentAccessError, hashSessionId } from '@session-cluster/core';
import type { SessionManager } from '@session-cluster/manager';

/**
 * A session lock held across a whole request (`lock: 'request'`): taken
 * with `manager.withLock`, whose section stays open until {@link release}.
 * The locker extends the lease while it is held.
 */
export class RequestLock {
  private constructor(
    private readonly id: string,
    private readonly signal: AbortSignal,
    private readonly releaseSection: () => void,
    private readonly section: Promise<void>,
  ) {}

  /**
   * Wait for the session's lock.
   * @throws ConcurrentAccessError `LOCK_NOT_ACQUIRED` when it could not be had in time
   */
  public static async acquire(manager: SessionManager, id: string): Promise<RequestLock> {
    let releaseSection!: () => void;
    const released = new Promise<void>((resolve) => {
      releaseSection = resolve;
    });
    let acquired!: (signal: AbortSignal) => void;
    const granted = new Promise<AbortSignal>((resolve) => {
      acquired = resolve;
    });
    const section = manager.withLock(id, (signal) => {
      acquired(signal);
      return released;
    });
    // `section` settles before `granted` only when the lock was never granted.
    const signal = await Promise.race([granted, section.then(() => undefined)]);
    if (signal === undefined) throw new Error('unreachable: lock section ended before it began');
    return new RequestLock(id, signal, releaseSection, section);
  }

  /** @throws ConcurrentAccessError `LOCK_LOST` when exclusivity was lost (a lease extension failed) */
  public assertHeld(): void {
    if (this.signal.aborted) {
      throw new ConcurrentAccessError(
        'lock_lost',
        'The session lock held for this request was lost',
        {
          operation: 'commit',
          sessionIdHash: hashSessionId(this.id),
        },
      );
    }
  }

  /** Give the lock up and wait until it is released. Never throws. */
  public async release(): Promise<void> {
    this.releaseSection();
    await this.section.catch(() => undefined);
  }
}
