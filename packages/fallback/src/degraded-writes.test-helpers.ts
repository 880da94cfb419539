import { generateSessionId } from '@session-cluster/core';
import type { SessionData, SessionRecord, SessionStore } from '@session-cluster/core';
import type { DegradedJournal } from './degraded-journal.js';

const HOUR = 3_600_000;

/**
 * What an instance does while degraded, without a FallbackStore around it:
 * sessions held before the outage, and writes served from the in-memory
 * secondary, each journaled as the FallbackStore journals them. For tests
 * that drive a Reconciler against a real primary.
 */
export function degradedWrites(parts: {
  readonly primary: SessionStore;
  readonly secondary: SessionStore;
  readonly journal: DegradedJournal;
}) {
  const { primary, secondary, journal } = parts;
  return {
    /** A session Redis holds, cached here before the outage: journaled per key from that copy. */
    async heldBeforeOutage(data: SessionData): Promise<SessionRecord> {
      const record = await primary.create({
        id: generateSessionId(),
        userId: 'ann',
        data,
        expiresAt: Date.now() + HOUR,
      });
      await secondary.create({ id: record.id, userId: 'ann', data, expiresAt: record.expiresAt });
      journal.seed(record.id, record);
      return record;
    },

    /** A patch served from memory while degraded, journaled. */
    async patchLocally(id: string, set: SessionData): Promise<void> {
      const ticket = journal.beginWrite(id);
      await secondary.patch(id, { set });
      journal.endWrite(ticket, true);
      const after = await secondary.load(id);
      if (after !== null) journal.noteData(id, ticket.entry, after.data, Date.now());
    },

    /** A session created in memory while degraded, journaled. */
    async createLocally(data: SessionData): Promise<SessionRecord> {
      const id = generateSessionId();
      const ticket = journal.beginWrite(id);
      const record = await secondary.create({ id, data, expiresAt: Date.now() + HOUR });
      journal.endWrite(ticket, true);
      return record;
    },
  };
}
