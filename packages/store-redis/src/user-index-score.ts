/**
 * Versions a user-index score tells apart: they wrap at this, so a member
 * indexed up to half of it writes later counts as newer (see
 * removeUserIndexMembers-1.lua).
 */
export const INDEX_VERSION_SPAN = 1024;

/**
 * The score of a session's member in its owner's index: `createdAt` plus
 * `(version mod 1024) / 1024`. Every write that (re-)adds a member gives it
 * a new score, so a conditional removal (a lazy repair by `listByUser`, the
 * old owner's index after a save moved the session) can tell the member it
 * saw from one re-added meanwhile; the integer part still orders the index
 * by creation. Exact in a double for `createdAt` below 2^43 ms (year 2248).
 */
export function userIndexScore(createdAt: number, version: number): number {
  return createdAt + (version % INDEX_VERSION_SPAN) / INDEX_VERSION_SPAN;
}

/** Removal spec: any member indexed for the session created at `createdAt`. */
export function anyMemberOf(createdAt: number | string): string {
  return `${createdAt}@`;
}

/** Removal spec: a member of that creation indexed by a write up to `version`. */
export function memberUpTo(createdAt: number | string, version: number): string {
  return `${createdAt}@${version}`;
}
