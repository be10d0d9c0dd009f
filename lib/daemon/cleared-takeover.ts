// A VIP this node was elected for but had to probe first (RFC 5227: a new VIP, or one nobody held lately)
// is added as soon as its probe comes back clean, instead of at the next step. At 10,000 VIPs a step costs
// 250+ ms and is paced by the cost of the one before, and peers' records queue ahead of it: a reload's new
// VIP, cleared by its probe, waited ~1.3 s for its add (issue 14's reload trace). The step that follows
// still runs and plans the same address (the applier then holds it, so it needs no probe): this only brings
// the add forward, on the decision the last plan already made. Pure.
import type { EligibilityReport } from "../election/election";
import type { PlannerMemory } from "../plan/types";

/**
 * The add is brought forward only while at most this many other probes are in flight: a reload adds a
 * few VIPs; a start-up or a takeover probing thousands goes through its steps as before, since each add
 * brought forward copies the wanted set (10,000 entries at scale): one per probe of a start-up stalled it.
 */
export const CLEARED_TAKEOVER_MAX_PROBING = 16;

export interface ClearedProbeFacts {
  /** This node's name. */
  readonly self: string;
  /** The election IP of the VIP's group in the config in force; undefined when no longer configured. */
  readonly electionIp: string | undefined;
  /** The planner's memory, as the last plan left it. */
  readonly memory: Pick<PlannerMemory, "ownership" | "takeoverWaits" | "legacyTakeovers" | "handovers">;
  /**
   * Whether anything the last plan decided on may have changed since: membership or a peer's record (a
   * member event waits for the next step), or the config in force.
   */
  readonly changedSincePlan: boolean;
  /** This node's eligibility for the VIP now (links, probe-found conflicts, add failures, health). */
  readonly local: EligibilityReport;
  /** The addresses the applier holds or is adding. */
  readonly wanted: ReadonlyMap<string, string>;
  /** Probes still in flight (this one done). */
  readonly probing: number;
}

/**
 * The interface to add `ip` on now that its probe came back clean, or undefined when the next step must
 * decide: the last plan elected this node for its group (so it was ready, had quorum and every peer agreed)
 * and waited only for this probe, and nothing it decided on has changed since.
 */
export function interfaceForClearedProbe(ip: string, facts: ClearedProbeFacts): string | undefined {
  const { electionIp, memory } = facts;
  if (electionIp === undefined || facts.changedSincePlan || facts.wanted.has(ip)) return undefined;
  if (facts.probing > CLEARED_TAKEOVER_MAX_PROBING) return undefined;
  if (memory.ownership.get(electionIp)?.owner !== facts.self) return undefined;
  // A holder handing it over, a 0.1.0 holder being answered, or a hand-over of ours: the step decides.
  if (
    memory.takeoverWaits.has(electionIp) ||
    memory.legacyTakeovers.has(electionIp) ||
    memory.handovers.has(electionIp)
  )
    return undefined;
  if (!facts.local.eligible || facts.local.interface === undefined || facts.local.interface === "")
    return undefined;
  return facts.local.interface;
}
