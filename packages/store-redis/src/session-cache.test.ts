import type { SessionRecord } from '@session-cluster/core';
import { describe, expect, it } from 'vitest';
import { RETAINED_TTL_MS, SessionCache, TOKEN_CLOCK_SKEW_MS } from './session-cache.js';

const NOW = 1_000_000;

function record(id: string, version = 1, data: SessionRecord['data'] = { a: [1] }): SessionRecord {
  return {
    id,
    userId: undefined,
    data,
    version,
    createdAt: 1,
    updatedAt: 1,
    expiresAt: NOW + 60_000,
  };
}

function readyCache(maxEntries = 100, maxBytes = 1_000_000): SessionCache {
  const cache = new SessionCache({ maxEntries, maxBytes });
  cache.setReady(true);
  return cache;
}

function fill(cache: SessionCache, id: string, version = 1, bytes = 10): void {
  const ticket = cache.beginFill(id);
  if (ticket === undefined) throw new Error('cache not ready');
  cache.endFill(ticket, record(id, version), bytes);
}

describe('SessionCache', () => {
  it('serves a filled entry, frozen, and counts hits and misses', () => {
    const cache = readyCache();
    expect(cache.get('s1', NOW)).toBeUndefined();
    fill(cache, 's1');
    const hit = cache.get('s1', NOW);
    expect(hit?.version).toBe(1);
    expect(Object.isFrozen(hit)).toBe(true);
    expect(Object.isFrozen(hit?.data['a'])).toBe(true);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, entries: 1, bytes: 12 });
  });

  it('keeps the entries text beside the record it was given with, for that record only', () => {
    const cache = readyCache();
    const ticket = cache.beginFill('s1');
    if (ticket === undefined) throw new Error('cache not ready');
    const stored = cache.endFill(ticket, record('s1', 3), 10, true, '\u001e"a"\u001f[1]');
    if (stored === null) throw new Error('not stored');
    expect(cache.entriesOf('s1', stored)).toBe('\u001e"a"\u001f[1]');
    // Another record of the id (a copy, a later version) gets none.
    expect(cache.entriesOf('s1', record('s1', 3))).toBeUndefined();
    // Set aside by an own write, the copy keeps its text.
    cache.beginWrite('s1');
    expect(cache.entriesOf('s1', stored)).toBe('\u001e"a"\u001f[1]');
    // What the write left replaces it: its own text, or none.
    const left = record('s1', 4);
    cache.noteSeen(left, 10, NOW);
    cache.endWrite('s1');
    expect(cache.entriesOf('s1', stored)).toBeUndefined();
    expect(cache.entriesOf('s1', left)).toBeUndefined();
    const created = record('s2');
    cache.noteCreated(created, 10, NOW, '\u001e"b"\u001f2');
    expect(cache.peekBase('s2', NOW)).toBe(created);
    expect(cache.entriesOf('s2', created)).toBe('\u001e"b"\u001f2');
  });

  it('answers null for a cached copy that has expired', () => {
    const cache = readyCache();
    fill(cache, 's1');
    expect(cache.get('s1', NOW + 60_000)).toBeNull();
  });

  it('an invalidation that arrives while the filling read is in flight wins', () => {
    const cache = readyCache();
    const ticket = cache.beginFill('s1');
    cache.invalidate('s1', true);
    if (ticket === undefined) throw new Error('not ready');
    cache.endFill(ticket, record('s1'), 10);
    expect(cache.get('s1', NOW)).toBeUndefined();
    expect(cache.stats()).toMatchObject({ racesLost: 1, invalidations: 1 });
    // A read sent after the invalidation fills normally.
    fill(cache, 's1', 2);
    expect(cache.get('s1', NOW)?.version).toBe(2);
  });

  it('an invalidation of another id does not refuse a fill', () => {
    const cache = readyCache();
    const ticket = cache.beginFill('s1');
    cache.invalidate('s2', true);
    if (ticket === undefined) throw new Error('not ready');
    cache.endFill(ticket, record('s1'), 10);
    expect(cache.get('s1', NOW)).not.toBeUndefined();
  });

  it('refuses a fill whose read overlapped an own write, but not the read behind that write', () => {
    const cache = readyCache();
    fill(cache, 's1', 1);
    cache.beginWrite('s1');
    expect(cache.get('s1', NOW)).toBeUndefined();
    const during = cache.beginFill('s1');
    const behind = cache.beginFill('s1', true);
    cache.endWrite('s1');
    if (during === undefined || behind === undefined) throw new Error('not ready');
    cache.endFill(during, record('s1', 1), 10);
    expect(cache.get('s1', NOW)).toBeUndefined();
    cache.endFill(behind, record('s1', 2), 10);
    expect(cache.get('s1', NOW)?.version).toBe(2);
  });

  it('a flush or a state change drops every entry and every fill in flight', () => {
    const cache = readyCache();
    fill(cache, 's1');
    const ticket = cache.beginFill('s2');
    const flushes = cache.stats().flushes;
    cache.flush();
    if (ticket === undefined) throw new Error('not ready');
    cache.endFill(ticket, record('s2'), 10);
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0, flushes: flushes + 1 });

    fill(cache, 's3');
    cache.setReady(false);
    expect(cache.get('s3', NOW)).toBeUndefined();
    expect(cache.beginFill('s3')).toBeUndefined();
    cache.setReady(true);
    expect(cache.get('s3', NOW)).toBeUndefined();
  });

  it('stays within maxEntries and maxBytes, evicting the least recently used', () => {
    const cache = readyCache(3, 100);
    fill(cache, 'a');
    fill(cache, 'b');
    fill(cache, 'c');
    cache.get('a', NOW);
    fill(cache, 'd');
    expect(cache.get('b', NOW)).toBeUndefined();
    expect(cache.stats()).toMatchObject({ entries: 3, evictions: 1 });

    fill(cache, 'big', 1, 90);
    const stats = cache.stats();
    expect(stats.bytes).toBeLessThanOrEqual(100);
    expect(cache.get('big', NOW)).not.toBeUndefined();
    expect(stats.entries).toBe(1);
  });

  it('counts the entries text kept beside a copy against maxBytes, live and set aside', () => {
    const cache = readyCache(10, 100);
    const text = 'x'.repeat(30);
    for (const id of ['a', 'b']) {
      const ticket = cache.beginFill(id);
      if (ticket === undefined) throw new Error('not ready');
      cache.endFill(ticket, record(id), 19, true, text);
    }
    // Each entry: 19 frame bytes + 1 of id + 30 of text = 50.
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 100, evictions: 0 });
    expect(cache.bytesOf('a')).toBe(19);
    fill(cache, 'c', 1, 9);
    expect(cache.get('a', NOW)).toBeUndefined();
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 60, evictions: 1 });

    // Copies set aside: two with their text fill the bound, a third evicts the oldest.
    for (const id of ['p', 'q', 'r']) cache.noteCreated(record(id), 19, NOW, text);
    expect(cache.peekRetained('p', NOW)).toBeUndefined();
    expect(cache.peekRetained('q', NOW)?.id).toBe('q');
    expect(cache.peekRetained('r', NOW)?.id).toBe('r');
    expect(cache.entriesOf('r', cache.peekRetained('r', NOW) as SessionRecord)).toBe(text);
  });

  it('answers a version it is older than only to a token issued well before its read', () => {
    const cache = readyCache();
    const ticket = cache.beginFill('s1', false, NOW);
    if (ticket === undefined) throw new Error('not ready');
    cache.endFill(ticket, record('s1', 3), 10);
    expect(cache.peek('s1', 3)?.version).toBe(3);
    // Version 5 was never read here: refused without a time, or with a
    // token issued after the read or within the clock skew before it.
    expect(cache.peek('s1', 5)).toBeUndefined();
    expect(cache.peek('s1', 5, NOW + 1)).toBeUndefined();
    expect(cache.peek('s1', 5, NOW - TOKEN_CLOCK_SKEW_MS)).toBeUndefined();
    // A token issued more than the skew before the read: Redis held 3, not 5, by then.
    expect(cache.peek('s1', 5, NOW - TOKEN_CLOCK_SKEW_MS - 1)?.version).toBe(3);
    // Peeking counts nothing.
    expect(cache.stats()).toMatchObject({ hits: 0, misses: 0 });
  });

  it('current: answers as peek does, in one look-up, and counts only what it serves', () => {
    const cache = readyCache();
    const ticket = cache.beginFill('s1', false, NOW);
    if (ticket === undefined) throw new Error('not ready');
    cache.endFill(ticket, record('s1', 3), 10);
    for (const [minVersion, since] of [
      [0, undefined],
      [3, undefined],
      [5, undefined],
      [5, NOW + 1],
      [5, NOW - TOKEN_CLOCK_SKEW_MS],
      [5, NOW - TOKEN_CLOCK_SKEW_MS - 1],
    ] as const) {
      expect(cache.current('s1', NOW, minVersion, since)).toBe(cache.peek('s1', minVersion, since));
    }
    expect(cache.current('nope', NOW)).toBeUndefined();
    // Three copies served; the refusals and the unknown id are not counted (the load that follows counts the miss).
    expect(cache.stats()).toMatchObject({ hits: 3, misses: 0 });
    expect(cache.current('s1', NOW + 60_000)).toBeNull();
    cache.setReady(false);
    expect(cache.current('s1', NOW)).toBeUndefined();
  });

  it('keeps a session read on every request cached however many others pass through', () => {
    // Hits on an entry in the newer half of the cache do not move it; one
    // that has drifted into the older half is moved to the end, so the
    // least recently used leaves first all the same.
    const cache = readyCache(8);
    fill(cache, 'hot');
    for (let i = 0; i < 100; i += 1) {
      fill(cache, `cold${i}`);
      expect(cache.current('hot', NOW)?.id).toBe('hot');
    }
    expect(cache.stats()).toMatchObject({ entries: 8, evictions: 93 });
    // The seven entries kept beside it are the latest seven cold ones.
    for (let i = 93; i < 100; i += 1) expect(cache.peek(`cold${i}`)).toBeDefined();
    expect(cache.peek('cold92')).toBeUndefined();
  });

  it('does not cache a missing session or a refused read', () => {
    const cache = readyCache();
    const missing = cache.beginFill('s1');
    if (missing === undefined) throw new Error('not ready');
    expect(cache.endFill(missing, null, 0)).toBeNull();
    const refused = cache.beginFill('s1');
    if (refused === undefined) throw new Error('not ready');
    cache.endFill(refused, record('s1'), 10, false);
    expect(cache.stats().entries).toBe(0);
  });
});

describe('SessionCache: copies set aside when it goes down', () => {
  it('serves nothing while down but offers what it held to peekRetained, for a minute', () => {
    const cache = readyCache();
    fill(cache, 'a', 3);
    const held = cache.stats().bytes;
    cache.setReady(false, NOW);
    expect(cache.get('a', NOW)).toBeUndefined();
    expect(cache.peekRetained('a', NOW + 1)?.version).toBe(3);
    // The copy moved from the live entries to those set aside, bytes and all.
    expect(cache.stats()).toMatchObject({ retained: 1, retainedBytes: held, bytes: 0 });
    expect(cache.peekRetained('a', NOW + RETAINED_TTL_MS)).toBeUndefined();
  });

  it('keeps the set-aside copies across reconnecting until taken, then forgets them', () => {
    const cache = readyCache();
    fill(cache, 'a', 3);
    fill(cache, 'b', 1);
    cache.setReady(false, NOW);
    cache.setReady(true, NOW + 10);
    // Ready again: normal reads start from empty, the copies wait to be taken.
    expect(cache.get('a', NOW + 10)).toBeUndefined();
    expect(cache.peekRetained('b', NOW + 10)?.version).toBe(1);
    expect(
      cache
        .takeRetained(NOW + 20)
        .map((r) => r.id)
        .sort(),
    ).toEqual(['a', 'b']);
    expect(cache.takeRetained(NOW + 20)).toEqual([]);
    expect(cache.peekRetained('a', NOW + 20)).toBeUndefined();
  });

  it('names the ids with a copy set aside (to check against Redis once back), not those past their minute or gone', () => {
    const cache = readyCache();
    fill(cache, 'a', 3);
    fill(cache, 'b', 1);
    fill(cache, 'c', 1);
    cache.setReady(false, NOW);
    cache.noteGone('c');
    cache.setReady(true, NOW + 10);
    expect(cache.retainedIds(NOW + 10).sort()).toEqual(['a', 'b']);
    expect(cache.retainedIds(NOW + RETAINED_TTL_MS)).toEqual([]);
  });

  it('keeps the newer copy of an id when it goes down again', () => {
    const cache = readyCache();
    fill(cache, 'a', 5);
    cache.setReady(false, NOW);
    cache.setReady(true, NOW + 1);
    fill(cache, 'a', 2); // a stale read cannot replace the newer copy set aside
    cache.setReady(false, NOW + 2);
    expect(cache.peekRetained('a', NOW + 3)?.version).toBe(5);
  });
});

describe('SessionCache: a copy invalidated by another instance', () => {
  it('is set aside for an outage fallback, never served, and not handed over by takeRetained', () => {
    const cache = readyCache();
    fill(cache, 'a', 4);
    cache.invalidate('a', true, NOW);
    expect(cache.get('a', NOW)).toBeUndefined();
    expect(cache.peekRetained('a', NOW)?.version).toBe(4);
    expect(cache.takeRetained(NOW)).toEqual([]);
    // Still offered after takeRetained: only copies set aside by going down are taken.
    expect(cache.peekRetained('a', NOW)?.version).toBe(4);
  });

  it('an own write sets the copy aside too (the write may fail because Redis went away)', () => {
    const cache = readyCache();
    fill(cache, 'a', 4);
    cache.beginWrite('a');
    expect(cache.get('a', NOW)).toBeUndefined();
    cache.endWrite('a');
    expect(cache.peekRetained('a', NOW)?.version).toBe(4);
    // A newer live copy is preferred over the one set aside.
    fill(cache, 'a', 5);
    expect(cache.peekRetained('a', NOW)?.version).toBe(5);
  });
});

describe('SessionCache: what it reads and writes while down (noteSeen)', () => {
  it('supersedes the copy set aside when it went down, never served, and stays handed over', () => {
    const cache = readyCache();
    fill(cache, 'a', 3);
    cache.setReady(false, NOW);
    cache.noteSeen(record('a', 9, { n: 9 }), 10, NOW + 5);
    expect(cache.get('a', NOW + 5)).toBeUndefined();
    const seen = cache.peekRetained('a', NOW + 5);
    expect(seen?.data).toEqual({ n: 9 });
    expect(Object.isFrozen(seen?.data)).toBe(true);
    // Its minute runs from this sight, not from going down.
    expect(cache.peekRetained('a', NOW + RETAINED_TTL_MS + 1)?.version).toBe(9);
    // It was this instance's current copy: still written back if Redis lost it.
    expect(cache.takeRetained(NOW + 6).map((r) => r.version)).toEqual([9]);
  });

  it('never replaces a newer copy, and keeps a copy that was not current not current', () => {
    const cache = new SessionCache({ maxEntries: 10, maxBytes: 1_000 });
    cache.noteSeen(record('a', 4), 10, NOW);
    cache.noteSeen(record('a', 2), 10, NOW);
    expect(cache.peekRetained('a', NOW)?.version).toBe(4);
    expect(cache.takeRetained(NOW)).toEqual([]);
  });

  it('holds the copies within maxBytes as well as maxEntries, the oldest leaving first', () => {
    const cache = new SessionCache({ maxEntries: 10, maxBytes: 100 });
    for (const id of ['a', 'b', 'c']) cache.noteSeen(record(id), 39, NOW);
    expect(cache.peekRetained('a', NOW)).toBeUndefined();
    expect(cache.peekRetained('b', NOW)?.id).toBe('b');
    expect(cache.peekRetained('c', NOW)?.id).toBe('c');
    expect(cache.stats().retained).toBe(2);
  });
});

describe('SessionCache: a session created here', () => {
  it('is offered to the fallback (peekRetained, takeRetained) but never served', () => {
    const cache = readyCache();
    cache.noteCreated(record('c', 1), 10, NOW);
    expect(cache.get('c', NOW)).toBeUndefined();
    expect(cache.peekRetained('c', NOW)?.version).toBe(1);
    expect(cache.takeRetained(NOW).map((r) => r.id)).toEqual(['c']);
  });

  it('is no longer handed over once another instance changed it (a stale copy)', () => {
    const cache = readyCache();
    cache.noteCreated(record('c', 1), 10, NOW);
    cache.invalidate('c', true, NOW);
    expect(cache.takeRetained(NOW)).toEqual([]);
    expect(cache.peekRetained('c', NOW)?.version).toBe(1);
  });
});

describe('SessionCache: a read that lost the race to an invalidation', () => {
  it('is not served but set aside, so the fallback has the newest copy this instance saw', () => {
    const cache = readyCache();
    fill(cache, 'a', 4);
    cache.beginWrite('a'); // own write: the v4 copy is set aside
    const ticket = cache.beginFill('a', true); // the read behind it
    cache.endWrite('a');
    cache.invalidate('a', true, NOW); // another instance wrote meanwhile
    const read = record('a', 5);
    expect(cache.endFill(ticket!, read, 10)).toBe(read);
    expect(cache.get('a', NOW)).toBeUndefined();
    expect(cache.peekRetained('a', NOW)?.version).toBe(5);
    // A copy, not the caller's object.
    expect(cache.peekRetained('a', NOW)).not.toBe(read);
  });

  it('offers as a patch base the live entry, or the copy its own create or write left, until Redis is known past it', () => {
    const cache = readyCache();
    cache.noteCreated(record('s1', 1), 10, NOW);
    expect(cache.peekBase('s1', NOW)?.version).toBe(1);
    // An own write keeps it a base; what the write left supersedes it.
    cache.beginWrite('s1');
    cache.endWrite('s1');
    expect(cache.peekBase('s1', NOW)?.version).toBe(1);
    cache.noteSeen(record('s1', 2), 10, NOW);
    expect(cache.peekBase('s1', NOW)?.version).toBe(2);
    // A patch sent on it was refused: Redis holds a newer copy.
    cache.refuseBase('s1');
    expect(cache.peekBase('s1', NOW)).toBeUndefined();
    // Still the fallback's last sight of it.
    expect(cache.peekRetained('s1', NOW)?.version).toBe(2);

    cache.noteSeen(record('s2', 3), 10, NOW);
    cache.invalidate('s2', true, NOW);
    expect(cache.peekBase('s2', NOW)).toBeUndefined();

    cache.noteSeen(record('s3', 1), 10, NOW);
    expect(cache.peekBase('s3', NOW + RETAINED_TTL_MS)).toBeUndefined();
    fill(cache, 's4', 7);
    expect(cache.peekBase('s4', NOW)?.version).toBe(7);
    cache.setReady(false, NOW);
    expect(cache.peekBase('s4', NOW)).toBeUndefined();
  });

  it('keeps no copy of a session this instance deleted, until it creates one under that id again', () => {
    const cache = readyCache();
    fill(cache, 's1', 3);
    // The delete sets the live copy aside first (it may fail), then succeeds.
    cache.beginWrite('s1');
    expect(cache.peekRetained('s1', NOW)?.version).toBe(3);
    cache.noteGone('s1');
    cache.endWrite('s1');
    expect(cache.peekRetained('s1', NOW)).toBeUndefined();
    // An own write's reply still on its way sets nothing aside after it.
    cache.noteSeen(record('s1', 4), 10, NOW);
    expect(cache.peekRetained('s1', NOW)).toBeUndefined();
    expect(cache.takeRetained(NOW)).toEqual([]);
    cache.noteCreated(record('s1', 1), 10, NOW);
    expect(cache.peekRetained('s1', NOW)?.version).toBe(1);
  });

  it('loses the refill behind an own write when another own write leaves after its read', () => {
    const cache = readyCache();
    // One write: its refill (the read sent right behind it) is stored.
    cache.beginWrite('s1');
    cache.sentWrite('s1');
    const alone = cache.beginFill('s1', true, NOW)!;
    cache.endWrite('s1');
    cache.endFill(alone, record('s1', 2), 10);
    expect(cache.peek('s1')?.version).toBe(2);

    // Two writes made together, sent in two batches: the first one's read
    // may reach Redis before the second write runs.
    cache.beginWrite('s1');
    cache.beginWrite('s1');
    cache.sentWrite('s1');
    const first = cache.beginFill('s1', true, NOW)!;
    cache.sentWrite('s1');
    const second = cache.beginFill('s1', true, NOW)!;
    cache.endWrite('s1');
    cache.endWrite('s1');
    cache.endFill(first, record('s1', 3), 10);
    expect(cache.peek('s1')).toBeUndefined();
    expect(cache.stats().racesLost).toBe(1);
    // The last one sent reads what both left.
    cache.endFill(second, record('s1', 4), 10);
    expect(cache.peek('s1')?.version).toBe(4);
  });

  it('carries the copy set aside through the own patches it did not see, once no version between is missing', () => {
    const cache = readyCache();
    const step = (version: number, key: string) => ({
      version,
      set: { [key]: version },
      unset: [],
      updatedAt: NOW + version,
      expiresAt: undefined,
      z: 20,
      bytes: 10,
    });
    fill(cache, 's1', 2);
    // Two parallel writes: the entry is set aside before them; their
    // replies show versions 4 and 3, neither the copy's next.
    cache.beginWrite('s1');
    cache.beginWrite('s1');
    cache.noteStep('s1', () => step(4, 'b'), NOW);
    expect(cache.peekRetained('s1', NOW)?.version).toBe(2);
    expect(cache.stats().stepBytes).toBe(10);
    cache.noteStep('s1', () => step(3, 'a'), NOW);
    expect(cache.peekRetained('s1', NOW)).toMatchObject({
      version: 4,
      data: { a: 3, b: 4 },
      updatedAt: NOW + 4,
    });
    // Exactly what Redis held: a base again, and frozen like every copy.
    expect(cache.peekBase('s1', NOW)?.version).toBe(4);
    expect(Object.isFrozen(cache.peekRetained('s1', NOW)?.data)).toBe(true);
    cache.endWrite('s1');
    cache.endWrite('s1');

    // A step heard of before the copy it follows is replayed when that copy comes.
    cache.noteSeen(record('s2', 1), 10, NOW);
    cache.noteStep('s2', () => step(3, 'late'), NOW);
    cache.noteSeen(record('s2', 2, { seen: 2 }), 10, NOW);
    expect(cache.peekRetained('s2', NOW)).toMatchObject({ version: 3, data: { seen: 2, late: 3 } });

    // Without a copy to carry forward, a step is not even built.
    cache.noteStep('s3', () => expect.unreachable('built without a copy'), NOW);
    // A session created again under an id starts its versions again: older steps are dropped.
    cache.noteSeen(record('s4', 1), 10, NOW);
    cache.noteStep('s4', () => step(3, 'old'), NOW);
    cache.noteCreated(record('s4', 1), 10, NOW);
    cache.noteSeen(record('s4', 2), 10, NOW);
    expect(cache.peekRetained('s4', NOW)).toMatchObject({ version: 2, data: { a: [1] } });
  });
});
