/** One scheduled expiry: `id` is due at `expiresAt`. */
export interface ExpiryEntry {
  readonly id: string;
  readonly expiresAt: number;
}

/**
 * A binary min-heap of expiry entries, earliest first.
 *
 * Entries are never updated or removed in place: when a session's expiry
 * moves, a new entry is pushed and the old one stays behind. The owner treats
 * an entry as stale when the session is gone or its `expiresAt` differs, and
 * pops it when it reaches the top. That keeps push/pop at O(log n) with no
 * id → position map; {@link rebuild} compacts when stale entries pile up.
 */
export class ExpiryQueue {
  private heap: ExpiryEntry[] = [];

  /** Entries held, stale ones included. */
  public get size(): number {
    return this.heap.length;
  }

  /** Schedule `id` at `expiresAt`. O(log n). */
  public push(id: string, expiresAt: number): void {
    this.heap.push({ id, expiresAt });
    this.siftUp(this.heap.length - 1);
  }

  /** The earliest entry, or `undefined` when empty. O(1). */
  public peek(): ExpiryEntry | undefined {
    return this.heap[0];
  }

  /** Remove and return the earliest entry. O(log n). */
  public pop(): ExpiryEntry | undefined {
    const top = this.heap[0];
    const last = this.heap.pop();
    if (top !== undefined && last !== undefined && this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  /** Replace the contents with `entries` (heapify, O(n)): drops every stale entry at once. */
  public rebuild(entries: Iterable<ExpiryEntry>): void {
    this.heap = Array.from(entries, ({ id, expiresAt }) => ({ id, expiresAt }));
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private siftUp(index: number): void {
    const heap = this.heap;
    const entry = heap[index];
    if (entry === undefined) return;
    let i = index;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = heap[parentIndex];
      if (parent === undefined || parent.expiresAt <= entry.expiresAt) break;
      heap[i] = parent;
      i = parentIndex;
    }
    heap[i] = entry;
  }

  private siftDown(index: number): void {
    const heap = this.heap;
    const entry = heap[index];
    if (entry === undefined) return;
    const length = heap.length;
    let i = index;
    for (;;) {
      const leftIndex = 2 * i + 1;
      if (leftIndex >= length) break;
      const rightIndex = leftIndex + 1;
      const left = heap[leftIndex];
      const right = heap[rightIndex];
      let childIndex = leftIndex;
      let child = left;
      if (right !== undefined && left !== undefined && right.expiresAt < left.expiresAt) {
        childIndex = rightIndex;
        child = right;
      }
      if (child === undefined || child.expiresAt >= entry.expiresAt) break;
      heap[i] = child;
      i = childIndex;
    }
    heap[i] = entry;
  }
}
