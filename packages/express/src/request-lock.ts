import type { SessionRecord } from '@session-cluster/core';
import type {
  HeldRegenerateOptions,
  HeldSessionLock,
  SessionManager,
} from '@session-cluster/manager';

/**
 * A session lock held across a whole request (`lock: 'request'`): taken
 * with `manager.withLock`, whose section stays open until {@link release}.
 * The locker extends the lease while it is held.
 *
 * The lease is not what keeps a commit safe: a holder frozen past it (a GC
 * pause, a failover) may still be running when another request takes the
 * lock. The commit is fenced instead, by the version loaded under the lock
 * (`manager.patch(…, { expectedVersion })`), so such a holder's write is
 * refused with `VERSION_CONFLICT` rather than laid over the newer one.
 */
export class RequestLock {
  private constructor(
    private readonly held: HeldSessionLock,
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
    let acquired!: (held: HeldSessionLock) => void;
    const granted = new Promise<HeldSessionLock>((resolve) => {
      acquired = resolve;
    });
    const section = manager.withLock(id, (_signal, held) => {
      acquired(held);
      return released;
    });
    // `section` settles before `granted` only when the lock was never granted.
    const held = await Promise.race([granted, section.then(() => undefined)]);
    if (held === undefined) throw new Error('unreachable: lock section ended before it began');
    return new RequestLock(held, releaseSection, section);
  }

  /**
   * Regenerate under this lock (taking it again would wait for this very
   * request): the old id is retired before this returns.
   */
  public regenerate(options: HeldRegenerateOptions): Promise<SessionRecord> {
    return this.held.regenerate(options);
  }

  /** Give the lock up and wait until it is released. Never throws. */
  public async release(): Promise<void> {
    this.releaseSection();
    await this.section.catch(() => undefined);
  }
}
