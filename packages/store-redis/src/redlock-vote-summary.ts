/**
 * How the nodes voted in one Redlock round, as counts (never the clients or
 * their errors: these go into error details and logs).
 */
export interface VoteSummary {
  /** Nodes asked. */
  readonly membershipSize: number;
  /** Votes needed: `floor(membershipSize / 2) + 1`. */
  readonly quorumSize: number;
  readonly votesFor: number;
  readonly votesAgainst: number;
  /** Against because another holder has the key (contention: worth waiting for). */
  readonly nodesLocked: number;
  /** Against because the node failed (down, timed out, error reply). */
  readonly nodesFailed: number;
  /** Nodes whose vote had not arrived when the summary was taken. */
  readonly votesPending: number;
}

/** The quorum of `membershipSize` Redlock voters. */
export function quorumOf(membershipSize: number): number {
  return Math.floor(membershipSize / 2) + 1;
}

/** A summary for a round whose votes are unknown (none taken, or not all in yet). */
export function unknownVotes(membershipSize: number): VoteSummary {
  return {
    membershipSize,
    quorumSize: quorumOf(membershipSize),
    votesFor: 0,
    votesAgainst: 0,
    nodesLocked: 0,
    nodesFailed: 0,
    votesPending: membershipSize,
  };
}

/**
 * True when so many nodes failed (rather than refused because the key is
 * held) that a quorum cannot be reached by waiting: retrying would only burn
 * the caller's time budget.
 */
export function quorumUnreachable(votes: VoteSummary): boolean {
  return votes.membershipSize - votes.nodesFailed < votes.quorumSize;
}
