import { describe, expect, it } from 'vitest';
import { InFlight } from './in-flight.js';

describe('InFlight', () => {
  it('drained() resolves at once when idle', async () => {
    await expect(new InFlight().drained()).resolves.toBeUndefined();
  });

  it('drained() waits until every call has left', async () => {
    const inFlight = new InFlight();
    inFlight.enter();
    inFlight.enter();
    const order: string[] = [];
    const drained = inFlight.drained().then(() => order.push('drained'));
    inFlight.leave();
    await Promise.resolve();
    order.push('one left');
    inFlight.leave();
    await drained;
    expect(order).toEqual(['one left', 'drained']);
    expect(inFlight.size).toBe(0);
  });
});
