import type { Context } from '@opentelemetry/api';

/**
 * A context whose values are those of whichever context it currently
 * points at. Needed because a locker's `using()` runs its own steps (poll
 * the lock nodes, extend the lease, release) in the async context of the
 * `using()` call itself, one after the other: a context that can be
 * switched from the acquire span to the release span is the only way to
 * get each step's Redis commands under the right span without reaching
 * into the locker. Lookups delegate at call time; derived contexts
 * (`setValue`) are snapshots of the current phase.
 */
export class PhasedContext implements Context {
  public constructor(private current: Context) {}

  /** Point every later lookup at `context`. */
  public switchTo(context: Context): void {
    this.current = context;
  }

  public getValue(key: symbol): unknown {
    return this.current.getValue(key);
  }

  public setValue(key: symbol, value: unknown): Context {
    return this.current.setValue(key, value);
  }

  public deleteValue(key: symbol): Context {
    return this.current.deleteValue(key);
  }
}
