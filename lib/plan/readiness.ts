// When a starting node is ready to take VIPs: once it knows its peers. Pure.

/**
 * Readiness: every other alive member is known with its metadata, at least one of them, and as many members
 * as the cluster expects (`expect`, the quorum's count: the join list and this node by default) are alive.
 * Waiting for the expected members (bounded by the daemon's joinWaitMs, after which it is ready anyway) keeps a
 * cold start from electing among the first two nodes up: at 1,000 VIPs those two probed, added and announced
 * the third node's share, only to hand it over a second later when the third joined.
 */
export function peersKnown(
  members: readonly { name: string; state: string; metadata?: unknown }[],
  self: string,
  expect = 2,
): boolean {
  let others = 0;
  for (const m of members) {
    if (m.name === self || m.state !== "alive") continue;
    if (m.metadata === undefined) return false;
    others++;
  }
  return others > 0 && others + 1 >= expect;
}
