/**
 * Counts calls in progress so that `close()` can wait for them: `enter`
 * before the work, `leave` after it settles, `drained()` resolves once the
 * count is back to zero. A plain counter: the hot path pays an increment, a
 * decrement and a comparison.
 */
export class InFlight {
  private count = 0;
  private waiting: (() => void) | undefined;
  private drainedPromise: Promise<void> | undefined;

  /** Calls in progress. */
  public get size(): number {
    return this.count;
  }

  public enter(): void {
    this.count += 1;
  }

  public leave(): void {
    this.count -= 1;
    if (this.count === 0 && this.waiting !== undefined) {
      this.waiting();
      this.waiting = undefined;
    }
  }

  /** Resolves when no call is in progress (at once if none is). */
  public drained(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    this.drainedPromise ??= new Promise<void>((resolve) => {
      this.waiting = resolve;
    }).finally(() => {
      this.drainedPromise = undefined;
    });
    return this.drainedPromise;
  }
}
