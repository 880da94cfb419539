import { describe, expect, it } from 'vitest';
import { rotated } from './load-runner.js';

describe('rotated', () => {
  it('starts at index `by` and wraps round, modulo the length', () => {
    expect(rotated(['a', 'b', 'c'], 0)).toEqual(['a', 'b', 'c']);
    expect(rotated(['a', 'b', 'c'], 1)).toEqual(['b', 'c', 'a']);
    expect(rotated(['a', 'b', 'c'], 5)).toEqual(['c', 'a', 'b']);
  });

  it('gives each item the first place once over as many rounds as items', () => {
    const firsts = [0, 1, 2, 3].map((round) => rotated([1, 2, 3, 4], round)[0]);
    expect(firsts.sort()).toEqual([1, 2, 3, 4]);
  });

  it('leaves its input alone and takes an empty list', () => {
    const items = ['a', 'b'] as const;
    rotated(items, 1);
    expect(items).toEqual(['a', 'b']);
    expect(rotated([], 3)).toEqual([]);
  });
});
