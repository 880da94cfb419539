import { describe, expect, it } from 'vitest';
import { LocalLockQueue } from './redlock-local-queue.js';

const never = new AbortController().signal;

describe('LocalLockQueue', () => {
  it('grants the first comer at once and the others in arrival order', async () => {
    const queue = new LocalLockQueue();
    const order: number[] = [];
    const first = await queue.enter('k', never);
    const waiting = [1, 2, 3].map((n) =>
      queue.enter('k', never).then((turn) => {
        order.push(n);
        return turn;
      }),
    );
    await Promise.resolve();
    expect(order).toEqual([]);

    first.leave();
    (await waiting[0]!).leave();
    (await waiting[1]!).leave();
    (await waiting[2]!).leave();
    expect(order).toEqual([1, 2, 3]);
    expect(queue.size).toBe(0);
  });

  it('keeps keys independent', async () => {
    const queue = new LocalLockQueue();
    const a = await queue.enter('a', never);
    const b = await queue.enter('b', never);
    expect(queue.size).toBe(2);
    a.leave();
    b.leave();
    expect(queue.size).toBe(0);
  });

  it('removes an aborted waiter and rejects it with the signal reason', async () => {
    const queue = new LocalLockQueue();
    const holder = await queue.enter('k', never);
    const controller = new AbortController();
    const reason = new Error('gave up');
    const aborted = queue.enter('k', controller.signal);
    const next = queue.enter('k', never);
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);

    holder.leave();
    const turn = await next;
    turn.leave();
    expect(queue.size).toBe(0);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const queue = new LocalLockQueue();
    const reason = new Error('late');
    await expect(queue.enter('k', AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(queue.size).toBe(0);
  });

  it('ignores a second leave of the same turn', async () => {
    const queue = new LocalLockQueue();
    const first = await queue.enter('k', never);
    const second = queue.enter('k', never);
    const third = queue.enter('k', never);
    let thirdGranted = false;
    void third.then(() => (thirdGranted = true));

    first.leave();
    first.leave();
    await second;
    await Promise.resolve();
    expect(thirdGranted).toBe(false);
  });
});
