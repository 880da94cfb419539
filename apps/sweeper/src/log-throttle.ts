/**
 * Tells whether a repeated warning should be logged: the first of a kind,
 * then at most one per `everyMs` carrying how many were suppressed. While
 * Redis is down, BullMQ reports every reconnect attempt of every
 * connection (several a second); the log should say so once in a while,
 * not drown.
 */
export class LogThrottle {
  private readonly seen = new Map<string, { loggedAt: number; suppressed: number }>();

  public constructor(
    private readonly everyMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * `undefined` when this occurrence of `key` should stay quiet; else how
   * many occurrences were suppressed since the last one logged.
   */
  public admit(key: string): number | undefined {
    const now = this.now();
    const entry = this.seen.get(key);
    if (entry !== undefined && now - entry.loggedAt < this.everyMs) {
      entry.suppressed += 1;
      return undefined;
    }
    this.seen.set(key, { loggedAt: now, suppressed: 0 });
    return entry?.suppressed ?? 0;
  }
}
