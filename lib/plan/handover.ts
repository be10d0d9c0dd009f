// Hand-overs between holders: the old holder keeps a group it lost to a live member until that member has it
// (make-before-break, vipd 0.2.0 on), a new owner waits for a 0.2.0 holder to let go, and a takeover from a
// vipd 0.1.0 holder (which lets go at once) waits for its counter-announcement. Pure, part of the planner.
import { isLive, type ElectionResult, type VipGroup } from "../election/election";
import type { Handover, PlanEvent, PlannerMemory, PlanMember, Snapshot } from "./types";

/**
 * Longest a holder keeps a group it lost to a live member while waiting for that member to announce it.
 * The new owner normally has it within milliseconds; this covers a joining node's wait for its peers
 * (joinWaitMs, 3 s) and ends a double hold whose end was never seen (an IPv6 group taken by vipd 0.1.0).
 */
export const HANDOVER_HOLD_MAX_MS = 5_000;
/**
 * How long a holder keeps the address after it saw the new owner holding it. Clients switch on the new
 * owner's gratuitous ARP, but packets they sent just before are still on their way to this node (under load,
 * in softirq backlogs for milliseconds): removing the address at once dropped them (2 probes lost at one
 * failback in CI). The cost is an address on two nodes for this long, with the new owner's burst repeating.
 */
export const HANDOVER_DRAIN_MS = 250;
/**
 * Longest an elected node waits for the live member holding a group to hand it over before taking it
 * anyway (as a node that knows no hand-over would). One gossip round trip is the normal wait.
 */
export const TAKEOVER_WAIT_MAX_MS = 1_000;
/**
 * How long a node taking a group over from a vipd 0.1.0 holder waits, once its address is in place, for the
 * holder's counter-announcement (0.1.0 reads ARP every 50 ms). Without one it announces once more itself and,
 * a drain later, says it is eligible (it never lets the holder go while clients may still follow it).
 */
export const LEGACY_ANSWER_WAIT_MS = 300;
/** Members whose metadata range reaches this format are vipd 0.2.0 or later, which hand over gracefully. */
const HANDOVER_METADATA_FORMAT = 2;

/** Whether `member` hands a group over make-before-break (vipd 0.2.0 on); vipd 0.1.0 lets go at once. */
export function handsOver(member: PlanMember): boolean {
  return (member.versions?.metadata.max ?? HANDOVER_METADATA_FORMAT) >= HANDOVER_METADATA_FORMAT;
}

/** The first live peer among `claimants` (peers claiming a group in gossip). */
export function liveHolder(s: Snapshot, claimants: readonly string[] | undefined): PlanMember | undefined {
  if (claimants === undefined) return undefined;
  for (const name of claimants) {
    const m = s.members.find((x) => x.name === name);
    if (m !== undefined && isLive(m.state)) return m;
  }
  return undefined;
}

/**
 * This node holds a group the election just gave (or earlier gave) to `owner`: keep it until the new owner
 * has it? Only while this node could still serve it (a candidate, with quorum) and the new owner is a live
 * member; until the new owner's announcement is seen on the wire, or it claims the group (vipd 0.2.0 on
 * claims only once its address is in place; 0.1.0 claims before), or HANDOVER_HOLD_MAX_MS. Returns whether
 * to keep holding; updates memory.handovers and logs the start and end.
 */
export function handOver(
  s: Snapshot,
  memory: PlannerMemory,
  group: VipGroup,
  previousOwner: string | undefined,
  owner: string | undefined,
  result: ElectionResult,
  claims: ReadonlyMap<string, readonly string[]>,
  events: PlanEvent[],
): boolean {
  const electionIp = group.electionIp;
  const existing = memory.handovers.get(electionIp);
  const ips = group.ips.join(",");
  const end = (why: string): false => {
    if (memory.handovers.delete(electionIp))
      events.push({
        level: "log",
        reason: "handoverDone",
        message: `${ips}: ${why}; letting go`,
        fields: { ip: ips, to: existing?.to },
      });
    return false;
  };
  const next = owner === undefined ? undefined : s.members.find((m) => m.name === owner);
  const holding = group.ips.some((ip) => s.held.has(ip));
  const candidate = result.ranking.some((v) => v.node === s.node.name && v.skipped === undefined);
  if (
    next === undefined ||
    !isLive(next.state) ||
    !holding ||
    !candidate ||
    (previousOwner !== s.node.name && existing === undefined)
  )
    return end(next === undefined ? "nobody to hand it to" : `no hand-over to ${next.name} possible`);
  let handover: Handover | undefined = existing;
  if (handover === undefined || handover.to !== next.name) {
    handover = { to: next.name, since: s.now, announced: false };
    memory.handovers.set(electionIp, handover);
    events.push({
      level: "log",
      reason: "handoverStarted",
      message: `${ips}: elected ${next.name}; holding it until ${next.name} announces it`,
      fields: { ip: ips, to: next.name },
    });
  }
  const seenHolding = handover.announced
    ? `${next.name} announced it`
    : handsOver(next) && claims.get(electionIp)?.includes(next.name)
      ? `${next.name} holds it and claims it`
      : undefined;
  if (seenHolding !== undefined) {
    handover.handedAt ??= s.now;
    // The same sum as drainEnd's, so the pass it asks for ends the drain (a difference can fall 1 ulp short).
    if (s.now >= handover.handedAt + HANDOVER_DRAIN_MS) return end(seenHolding);
    return true;
  }
  if (s.now - handover.since >= HANDOVER_HOLD_MAX_MS)
    return end(`${next.name} did not announce it within ${HANDOVER_HOLD_MAX_MS} ms`);
  return true;
}

/** When the earliest hand-over drain or legacy answer wait ends (a pass must act then), if any. */
export function drainEnd(memory: PlannerMemory): number | undefined {
  let at: number | undefined;
  for (const legacy of memory.legacyTakeovers.values()) {
    // Draining after an answer, or waiting for one (a pass must then announce again: see plan).
    const end =
      legacy.answeredAt !== undefined
        ? legacy.answeredAt + HANDOVER_DRAIN_MS
        : legacy.placedAt !== undefined
          ? legacy.placedAt + LEGACY_ANSWER_WAIT_MS
          : undefined;
    if (end !== undefined && (at === undefined || end < at)) at = end;
  }
  for (const handover of memory.handovers.values())
    if (handover.handedAt !== undefined) {
      const end = handover.handedAt + HANDOVER_DRAIN_MS;
      if (at === undefined || end < at) at = end;
    }
  return at;
}
