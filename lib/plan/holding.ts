// Intended vs observed, the decisions: which VIPs this node gives up because it cannot add them, when to try
// them again, whether it can hold any VIP at all (readiness), and how a difference between what the election
// gave this node and what its kernel holds is described. Pure: the planner calls updateHolding() on every
// pass; the status view calls the describe functions.
import type { HoldView } from "./hold-failures";
import type {
  AddressDivergence,
  AddressView,
  PlanEvent,
  PlannerMemory,
  Snapshot,
  TrialRequest,
} from "./types";

export interface HoldingDecision {
  readonly trials: readonly TrialRequest[];
  readonly cannotHoldAny: string | undefined;
}

const NO_TRIALS: readonly TrialRequest[] = Object.freeze([]);

/**
 * Folds this pass's news into memory.hold (before the election, so a VIP given up now is not wanted in this
 * very pass): trial results, adds that worked, and divergences whose adds kept failing. Failures on an
 * interface the link view already rules out (down, gone) are its business, not a hold failure.
 */
export function updateHolding(s: Snapshot, memory: PlannerMemory, events: PlanEvent[]): HoldingDecision {
  const hold = memory.hold;
  const electionIp = (ip: string): string | undefined => s.config.groupByIp.get(ip)?.electionIp;
  for (const r of s.trialResults ?? []) {
    if (!hold.trialResult(r.ip, r.error)) continue;
    events.push({
      level: "event",
      reason: "canHoldAgain",
      message: `${r.ip}: adding works again, this node is eligible for it`,
      fields: { ip: r.ip },
      ip: electionIp(r.ip),
    });
  }
  const addresses = s.addresses;
  if (addresses === undefined) return { trials: NO_TRIALS, cannotHoldAny: undefined };
  if (hold.size > 0) {
    for (const ip of s.held.keys()) if (addresses.observed(ip)) hold.succeeded(ip);
    hold.retain((ip) => s.config.groupByIp.has(ip));
  }
  const divergences = addresses.divergences();
  if (divergences.length > 0) {
    const holdable = divergences.filter((d) => s.links.choice(d.ip)?.eligible === true);
    for (const ip of hold.update(holdable, s.now)) {
      events.push({
        level: "event",
        reason: "cannotHold",
        message: `${ip}: ${hold.reason(ip) ?? ""}; giving ${hold.holdsNothing ? "every VIP" : "it"} up to a peer`,
        fields: { ip },
        ip: electionIp(ip),
      });
    }
  }
  if (hold.size === 0) return { trials: NO_TRIALS, cannotHoldAny: undefined };
  const trials: TrialRequest[] = [];
  for (const ip of hold.dueTrials(s.now)) {
    const choice = s.links.choice(ip);
    if (choice?.eligible) trials.push({ ip, interface: choice.interfaces[0] ?? "" });
  }
  return { trials: trials.length > 0 ? trials : NO_TRIALS, cannotHoldAny: cannotHoldAny(s, hold) };
}

/**
 * Why this node can hold none of its VIPs, if so: adds fail node-wide (EPERM), or every VIP it has a usable
 * interface for was given up. A node without VIPs, or whose links are down, stays ready: that is the link
 * view's business and shows in eligibility.
 */
function cannotHoldAny(s: Snapshot, hold: HoldView): string | undefined {
  let candidates = 0;
  let firstReason: string | undefined;
  for (const group of s.config.groups) {
    for (const ip of group.ips) {
      if (!hold.holdsNothing && s.links.choice(ip)?.eligible !== true) continue;
      const reason = hold.reason(ip);
      if (reason === undefined) return undefined;
      candidates++;
      firstReason ??= reason;
    }
  }
  return candidates > 0 ? `this node can hold none of its VIPs: ${firstReason ?? ""}` : undefined;
}

/** `add failed: EPERM for 3.2 s`, `missing for 0.1 s`. */
export function divergenceText(reason: string, ms: number): string {
  return `${reason} for ${Math.max(0, Math.round(ms / 100) / 10)} s`;
}

/**
 * Whether the kernel holds every IP of a group this node won, and if not why, per IP: given up (and why),
 * not taken yet (probing for conflicts, no usable interface), or the applier's divergence.
 */
export function groupHolding(
  ips: readonly string[],
  intended: ReadonlyMap<string, string>,
  addresses: AddressView,
  divergences: ReadonlyMap<string, AddressDivergence>,
  hold: HoldView,
  notTakenReason: (ip: string) => string,
  now: number,
): { held: boolean; divergence?: string } {
  const why: string[] = [];
  for (const ip of ips) {
    if (addresses.observed(ip)) continue;
    const given = hold.size > 0 ? hold.reason(ip) : undefined;
    const d = divergences.get(ip);
    if (given) why.push(`${ip}: ${given}`);
    else if (!intended.has(ip)) why.push(`${ip}: not taken (${notTakenReason(ip)})`);
    else why.push(`${ip}: ${d ? divergenceText(d.reason, now - d.since) : "being added"}`);
  }
  return why.length === 0 ? { held: true } : { held: false, divergence: why.join("; ") };
}
