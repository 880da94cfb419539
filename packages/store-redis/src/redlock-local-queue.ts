/** A place at the front of a {@link LocalLockQueue}. */
export interface LocalTurn {
  /** Hand the turn to the next waiter of the key. Idempotent. */
  leave(): void;
}

interface Waiter {
  readonly grant: (turn: LocalTurn) => void;
}

interface KeyQueue {
  readonly waiters: Waiter[];
}

/**
 * In-process, per-key FIFO turns in front of Redlock.
 *
 * Redlock acquires by polling: every waiter retries `SET NX` on every node
 * after a delay. With hundreds of waiters for one session that is hundreds
 * of polls per round trip, and whoever polls right after a release wins, so
 * waiters are served in random order and some run out of time. With this
 * queue only the holder of a key's turn polls Redis (and then holds the
 * lock); the others wait here, in arrival order, at no cost to Redis.
 * Across processes, fairness is still Redlock's polling: one poller per
 * process per session.
 *
 * The turn is held from the first poll until the lock is released or its
 * lease is known to be over.
 */
export class LocalLockQueue {
  private readonly queues = new Map<string, KeyQueue>();

  /** Keys currently held or waited for (for tests and diagnostics). */
  public get size(): number {
    return this.queues.size;
  }

  /**
   * Wait for the key's turn.
   * @throws `signal.reason` when `signal` aborts first (the waiter leaves the queue)
   */
  public enter(key: string, signal: AbortSignal): Promise<LocalTurn> {
    if (signal.aborted) return Promise.reject(toError(signal.reason));
    const queue = this.queues.get(key);
    if (queue === undefined) {
      this.queues.set(key, { waiters: [] });
      return Promise.resolve(this.turnFor(key));
    }
    return new Promise<LocalTurn>((resolve, reject) => {
      const onAbort = (): void => {
        const index = queue.waiters.indexOf(waiter);
        if (index >= 0) queue.waiters.splice(index, 1);
        reject(toError(signal.reason));
      };
      const waiter: Waiter = {
        grant: (turn) => {
          signal.removeEventListener('abort', onAbort);
          resolve(turn);
        },
      };
      queue.waiters.push(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private turnFor(key: string): LocalTurn {
    let left = false;
    return {
      leave: () => {
        if (left) return;
        left = true;
        this.handOver(key);
      },
    };
  }

  private handOver(key: string): void {
    const queue = this.queues.get(key);
    if (queue === undefined) return;
    const next = queue.waiters.shift();
    if (next === undefined) {
      this.queues.delete(key);
      return;
    }
    next.grant(this.turnFor(key));
  }
}

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}
