import { ResourceLockedError } from 'redlock';
import type { ExecutionStats } from 'redlock';
import { unknownVotes } from './redlock-vote-summary.js';
import type { VoteSummary } from './redlock-vote-summary.js';

/** Count the votes of a finished round. */
export function countVotes(stats: ExecutionStats): VoteSummary {
  let nodesLocked = 0;
  for (const error of stats.votesAgainst.values()) {
    if (error instanceof ResourceLockedError) nodesLocked += 1;
  }
  const votesFor = stats.votesFor.size;
  const votesAgainst = stats.votesAgainst.size;
  return {
    membershipSize: stats.membershipSize,
    quorumSize: stats.quorumSize,
    votesFor,
    votesAgainst,
    nodesLocked,
    nodesFailed: votesAgainst - nodesLocked,
    votesPending: stats.membershipSize - votesFor - votesAgainst,
  };
}

/**
 * The votes of the last round of a failed Redlock operation. Redlock settles
 * an operation as soon as a quorum is for or against, and resolves the
 * round's stats only when every node has answered; a stalled node answers
 * only at its command timeout, so this waits at most `waitMs` and otherwise
 * reports the votes as unknown.
 */
export async function lastRoundVotes(
  attempts: readonly Promise<ExecutionStats>[],
  membershipSize: number,
  waitMs: number,
): Promise<VoteSummary> {
  const last = attempts.at(-1);
  if (last === undefined) return unknownVotes(membershipSize);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      resolve(undefined);
    }, waitMs);
  });
  try {
    const stats = await Promise.race([last, timedOut]);
    return stats === undefined ? unknownVotes(membershipSize) : countVotes(stats);
  } finally {
    clearTimeout(timer);
  }
}
