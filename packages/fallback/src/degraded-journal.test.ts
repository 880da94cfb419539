import { describe, expect, it } from 'vitest';
import { DegradedJournal, changedKeys } from './degraded-journal.js';

describe('DegradedJournal', () => {
  it('a write opens a fresh entry at base 0 and moves its generation before and after', () => {
    const journal = new DegradedJournal();
    const ticket = journal.beginWrite('a');
    expect(ticket.fresh).toBe(true);
    expect(journal.has('a')).toBe(true);
    expect(journal.get('a')).toMatchObject({ kind: 'write', base: 0, deleteFirst: false });
    const before = ticket.entry.gen;
    journal.endWrite(ticket, true);
    expect(ticket.entry.gen).toBeGreaterThan(before);
    expect(journal.beginWrite('a').fresh).toBe(false);
  });

  it('a write that changed nothing removes only the entry it created, if untouched since', () => {
    const journal = new DegradedJournal();
    journal.endWrite(journal.beginWrite('a'), false);
    expect(journal.has('a')).toBe(false);

    const first = journal.beginWrite('b');
    journal.endWrite(first, true);
    journal.endWrite(journal.beginWrite('b'), false); // an existing entry stays
    expect(journal.has('b')).toBe(true);

    const racing = journal.beginWrite('c');
    journal.endWrite(journal.beginWrite('c'), true); // another write landed meanwhile
    journal.endWrite(racing, false);
    expect(journal.has('c')).toBe(true);
  });

  it('settle removes an entry only if unchanged since it was read', () => {
    const journal = new DegradedJournal();
    const ticket = journal.beginWrite('a');
    journal.endWrite(ticket, true);
    const entry = journal.get('a')!;
    const gen = entry.gen;
    journal.endWrite(journal.beginWrite('a'), true);
    expect(journal.settle('a', entry, gen)).toBe(false);
    expect(journal.settle('a', entry, entry.gen)).toBe(true);
    expect(journal.has('a')).toBe(false);
    expect(journal.size).toBe(0);
  });

  it('delete after write turns the entry into a delete; a re-create deletes the old one first', () => {
    const journal = new DegradedJournal();
    journal.endWrite(journal.beginWrite('a'), true);
    const entry = journal.get('a')!;
    journal.rebase('a', entry, entry.incarnation, 4);
    expect(entry.base).toBe(4);

    journal.markDelete('a');
    expect(entry).toMatchObject({ kind: 'delete' });
    const afterDelete = entry.incarnation;

    journal.endWrite(journal.beginWrite('a'), true);
    expect(entry).toMatchObject({ kind: 'write', base: 0, deleteFirst: true });
    expect(entry.incarnation).toBe(afterDelete + 1);

    // A rebase or discard planned before the intent changed does nothing.
    journal.rebase('a', entry, afterDelete, 9);
    expect(entry.base).toBe(0);
    expect(journal.discard('a', entry, afterDelete)).toBe(false);
    journal.deletedFirst('a', entry, entry.incarnation);
    expect(entry.deleteFirst).toBe(false);
    expect(journal.discard('a', entry, entry.incarnation)).toBe(true);
  });

  it('a delete of an unknown id is journaled (the primary may hold it)', () => {
    const journal = new DegradedJournal();
    journal.markDelete('x');
    expect(journal.get('x')).toMatchObject({ kind: 'delete' });
    expect(journal.pending).toBe(1);
  });

  it('keeps revocations until replayed, and snapshots do not change underfoot', () => {
    const journal = new DegradedJournal();
    const revocation = { userId: 'u', at: 10, except: new Set(['k']) };
    journal.addRevocation(revocation);
    journal.markDelete('x');
    const snapshot = journal.revocations();
    const ids = journal.ids();
    journal.settleRevocation(revocation);
    journal.markDelete('y');
    expect(snapshot).toEqual([revocation]);
    expect(ids).toEqual(['x']);
    expect(journal.revocations()).toEqual([]);
    expect(journal.pending).toBe(2);
  });
});

describe('DegradedJournal per-key changes', () => {
  const cached = {
    id: 'a',
    userId: undefined,
    data: { n: 1, cart: ['x'], theme: 'light' },
    version: 7,
    createdAt: 1,
    updatedAt: 1,
    expiresAt: 10_000,
  };

  it('changedKeys: set, changed (deeply) and removed top-level keys', () => {
    expect(
      changedKeys(
        { n: 1, cart: ['x'], gone: true, same: { a: 1 } },
        {
          n: 2,
          cart: ['x', 'y'],
          same: { a: 1 },
          added: 0,
        },
      ).sort(),
    ).toEqual(['added', 'cart', 'gone', 'n']);
  });

  it('a seeded entry starts at the cached version; each write stamps the keys it changed', () => {
    const journal = new DegradedJournal();
    expect(journal.seed('a', cached)).toBe(true);
    expect(journal.seed('a', cached)).toBe(false);
    const entry = journal.get('a')!;
    expect(entry).toMatchObject({ kind: 'write', base: 7, baseData: cached.data });

    journal.noteData('a', entry, { n: 2, cart: ['x'], theme: 'light' }, 100);
    journal.noteData('a', entry, { n: 2, cart: ['x', 'y'], theme: 'light' }, 200);
    journal.noteData('a', entry, { n: 3, cart: ['x', 'y'] }, 300);
    expect(Object.fromEntries(entry.keyTimes)).toEqual({ n: 300, cart: 200, theme: 300 });
    // What reconciliation diffs against is still the cached copy.
    expect(entry.baseData).toEqual(cached.data);
  });

  it('rebase after a merge builds the next pass on what was written; a delete and re-use forgets the base', () => {
    const journal = new DegradedJournal();
    journal.seed('a', cached);
    const entry = journal.get('a')!;
    journal.rebase('a', entry, entry.incarnation, 8, { n: 5 });
    expect(entry).toMatchObject({ base: 8, baseData: { n: 5 } });

    journal.markDelete('a');
    journal.endWrite(journal.beginWrite('a'), true);
    expect(journal.get('a')).toMatchObject({ kind: 'write', base: 0, baseData: undefined });
    expect(journal.get('a')?.keyTimes.size).toBe(0);
  });
});
