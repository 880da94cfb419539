import { describe, expect, it } from 'vitest';
import { ExpiryQueue } from './expiry-queue.js';

function drain(queue: ExpiryQueue): number[] {
  const out: number[] = [];
  for (let entry = queue.pop(); entry !== undefined; entry = queue.pop()) out.push(entry.expiresAt);
  return out;
}

describe('ExpiryQueue', () => {
  it('pops entries earliest first, duplicates included', () => {
    const queue = new ExpiryQueue();
    const times = [50, 10, 40, 10, 30, 20, 60, 0, 45, 5];
    times.forEach((t, i) => {
      queue.push(`id${i}`, t);
    });
    expect(queue.size).toBe(times.length);
    expect(queue.peek()).toEqual({ id: 'id7', expiresAt: 0 });
    expect(drain(queue)).toEqual([...times].sort((a, b) => a - b));
    expect(queue.size).toBe(0);
    expect(queue.pop()).toBeUndefined();
  });

  it('stays ordered under interleaved pushes and pops (randomised against a sort)', () => {
    const queue = new ExpiryQueue();
    const reference: number[] = [];
    let seed = 42;
    const next = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648);
    for (let round = 0; round < 2_000; round++) {
      if (next() % 3 === 0 && reference.length > 0) {
        reference.sort((a, b) => a - b);
        expect(queue.pop()?.expiresAt).toBe(reference.shift());
      } else {
        const t = next() % 1_000;
        queue.push(`r${round}`, t);
        reference.push(t);
      }
    }
    expect(drain(queue)).toEqual(reference.sort((a, b) => a - b));
  });

  it('rebuild replaces the contents and heapifies them', () => {
    const queue = new ExpiryQueue();
    for (let i = 0; i < 100; i++) queue.push(`old${i}`, i);
    queue.rebuild([
      { id: 'c', expiresAt: 30 },
      { id: 'a', expiresAt: 10 },
      { id: 'd', expiresAt: 40 },
      { id: 'b', expiresAt: 20 },
    ]);
    expect(queue.size).toBe(4);
    expect(queue.peek()?.id).toBe('a');
    expect(drain(queue)).toEqual([10, 20, 30, 40]);
  });
});
