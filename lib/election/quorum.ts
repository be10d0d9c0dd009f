// The quorum gate: with `cluster.quorum: majority` a node holds VIPs only while it sees a strict majority of
// the expected members, so the small side of a partition lets go instead of fighting the big side over ARP.
import type { MemberState } from "./election";

export interface QuorumPolicy {
  readonly mode: "none" | "majority";
  /** Expected cluster size (`cluster.expect`, or the join list plus this node). */
  readonly expect: number;
}

export interface QuorumVerdict {
  readonly ok: boolean;
  /** Alive members this node sees, itself included. */
  readonly seen: number;
  /** Members needed for a strict majority of `expect`. */
  readonly needed: number;
  /** Why VIPs are not held, when `ok` is false. */
  readonly reason?: string;
}

export function quorumOf(states: readonly MemberState[], policy: QuorumPolicy): QuorumVerdict {
  // Suspects do not count: when every peer turns suspect at once, this node is the one cut off, and waiting
  // for their suspicion to expire (up to the suspicion maximum) would keep two owners on the wire that long.
  // One suspect in a healthy cluster still leaves a majority.
  const seen = states.filter((s) => s === "alive").length;
  const needed = Math.floor(policy.expect / 2) + 1;
  if (policy.mode === "none" || seen >= needed) return { ok: true, seen, needed };
  return {
    ok: false,
    seen,
    needed,
    reason: `no quorum: this node sees ${seen} of ${policy.expect} expected members, a majority needs ${needed}`,
  };
}
