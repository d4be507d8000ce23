import { describe, expect, it } from 'vitest';
import { FifoSlots } from '../../../src/fifo-slots.js';

describe('FifoSlots', () => {
  it('lets N holders in at once and hands slots over in arrival order, one per leave', async () => {
    const slots = new FifoSlots(2);
    const order: number[] = [];
    await slots.enter();
    await slots.enter();
    const waiters = [1, 2, 3].map((i) => slots.enter().then(() => order.push(i)));
    await Promise.resolve();
    expect(order).toEqual([]);
    expect(slots.queued).toBe(3);
    slots.leave();
    await waiters[0];
    expect(order).toEqual([1]);
    slots.leave();
    slots.leave();
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3]);
    expect(slots.queued).toBe(0);
    // Two slots are held now (five entered, three left): two leaves free both, and no more.
    slots.leave();
    slots.leave();
    await slots.enter();
    await slots.enter();
    let third = false;
    void slots.enter().then(() => (third = true));
    await Promise.resolve();
    expect(third).toBe(false);
  });

  it('keeps order across thousands of waiters (compaction)', async () => {
    const slots = new FifoSlots(1);
    await slots.enter();
    const seen: number[] = [];
    const all = Array.from({ length: 3000 }, (_, i) => slots.enter().then(() => seen.push(i)));
    for (let i = 0; i < 3000; i++) slots.leave();
    await Promise.all(all);
    expect(seen).toEqual(Array.from({ length: 3000 }, (_, i) => i));
  });
});
