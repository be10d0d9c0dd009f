// Groups a reload just added, and how long a peer that has not loaded the same edit yet counts as eligible
// for them. Pure: the planner passes the time in.
import type { PlanConfig } from "./types";

/**
 * How long after a reload adds a group a peer on other manifests (it has not loaded the edit yet) counts as
 * eligible for it. Every node loads an edit on its own, 100-500 ms apart on a busy host, and a node's new
 * metadata reached its peers up to 500 ms after its load: the first node to load elected itself among the
 * nodes that had reported the new IP, probed and added it while the node the election ranks first did the
 * same (the scale bench's reload: both added it 4 ms apart, then contested it). 1 s was not enough on a
 * slower host: in a 10,000-service reload under a CPU profiler (every node about half its speed), the top
 * node loaded the edit 0.8 s after another and its new record reached that one 1.86 s after it had loaded;
 * at 1 s the other stopped counting it, elected itself, and both held the new VIP for ~1 s, until the
 * record came and it handed the VIP back (round 22). A peer that never loads it (other manifests for good,
 * or an edit rolled out one node at a time) delays the new VIP by this much when it ranks first.
 */
export const NEW_GROUP_PEER_WAIT_MS = 3_000;

/** The groups of the config last planned, and when each group new in a reload appeared. */
export interface NewGroups {
  digest: string;
  /** The election IPs of the config last planned: its plans map itself (a copy was 10,000 keys a reload). */
  known: { has(electionIp: string): boolean };
  readonly since: Map<string, number>;
}

/**
 * Follows the config from pass to pass; returns whether a peer that has not reported `ip` yet may still be
 * about to (its group came with a reload less than NEW_GROUP_PEER_WAIT_MS ago). The first config (start-up)
 * adds no new groups: peers then run the manifests they were started with.
 */
export function trackNewGroups(
  tracked: NewGroups | undefined,
  config: PlanConfig,
  now: number,
): { tracked: NewGroups; pending: (ip: string) => boolean } {
  let state = tracked;
  if (state === undefined) {
    state = { digest: config.load.digest, known: config.plans, since: new Map() };
  } else if (state.digest !== config.load.digest) {
    for (const electionIp of config.plans.keys())
      if (!state.known.has(electionIp)) state.since.set(electionIp, now);
    state.digest = config.load.digest;
    state.known = config.plans;
  }
  for (const [electionIp, at] of state.since)
    if (now - at >= NEW_GROUP_PEER_WAIT_MS || !state.known.has(electionIp)) state.since.delete(electionIp);
  const since = state.since;
  const pending =
    since.size === 0
      ? () => false
      : (ip: string): boolean => {
          const electionIp = config.groupByIp.get(ip)?.electionIp;
          return electionIp !== undefined && since.has(electionIp);
        };
  return { tracked: state, pending };
}
