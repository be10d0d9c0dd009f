// Who may own what, as this node sees it: its own eligibility per IP (links, probe-found conflicts, health)
// and every peer's as gossiped. Pure; answered per lookup because a view over thousands of VIPs must not be
// materialised on every pass.
import type { EligibilityLookup, EligibilityReport, EligibilityView } from "../election/election";
import type { MemberMetadata } from "../gossip/metadata";
import { conflictReason } from "../net/arp-conflict";
import type { HoldView } from "./hold-failures";
import type { Snapshot } from "./types";

/** The inputs of this node's own eligibility. */
export type LocalInputs = Pick<Snapshot, "links" | "conflicts" | "health"> & {
  /** VIPs this node could not add (the planner's memory.hold); absent: none. */
  readonly hold?: HoldView;
};

/**
 * This node's eligibility for `ip`: a usable interface, no foreign device found on it, it can add it (no
 * repeated add failures), healthy services.
 */
export function localReport(s: LocalInputs, ip: string): EligibilityReport {
  const choice = s.links.choice(ip);
  if (!choice) return { eligible: false, reason: "interfaces not known yet" };
  if (!choice.eligible) return { eligible: false, reason: choice.reason };
  const conflict = s.conflicts.foreign.get(ip);
  if (conflict) return { eligible: false, reason: conflictReason(ip, conflict.mac) };
  const cannotHold = s.hold !== undefined && s.hold.size > 0 ? s.hold.reason(ip) : undefined;
  if (cannotHold) return { eligible: false, reason: cannotHold };
  const unhealthy = s.health.unhealthyReason(ip);
  if (unhealthy) return { eligible: false, reason: unhealthy };
  return eligibleOn(choice.interfaces[0]);
}

/** One frozen "eligible on this interface" report per interface name (asked per member per group per pass). */
const eligibleByInterface = new Map<string | undefined, EligibilityReport>();
function eligibleOn(itf: string | undefined): EligibilityReport {
  let report = eligibleByInterface.get(itf);
  if (report === undefined) {
    report = Object.freeze({ eligible: true, interface: itf });
    // Interface names come and go with links; a host has a handful. Bounded all the same.
    if (eligibleByInterface.size >= 1024) eligibleByInterface.clear();
    eligibleByInterface.set(itf, report);
  }
  return report;
}

export const ELIGIBLE: EligibilityReport = Object.freeze({ eligible: true });

/**
 * What a node that is not ready yet reports for each IP it could serve. vipd 0.1.0 reads it as "not
 * eligible" and so keeps the VIPs it holds until the starting node has taken them (it would otherwise let go
 * at once, before the starting node can answer); this build reads it as eligible, since its holders hand
 * over make-before-break, and the election (and a cold start) comes out as if the node had said eligible.
 */
export const STARTING_REASON = "starting: not ready yet";

/**
 * Eligibility as each member reports it; this node's own is computed fresh. A peer on the same manifests
 * that has not reported a new IP yet is about to: it counts as eligible, so a fresh service is not briefly
 * announced by two nodes. So does a peer on other manifests for an IP a reload just added (`pending`, see
 * new-groups.ts): it has most likely not loaded the same edit yet.
 */
export function eligibilityView(
  s: Snapshot,
  local: LocalInputs = s,
  pending: (ip: string) => boolean = () => false,
): EligibilityView {
  const view = new Map<string, EligibilityLookup>();
  const myDigest = s.config.load.digest;
  const configured = s.config.groupByIp;
  for (const m of s.members) {
    if (m.name === s.node.name) {
      view.set(m.name, { get: (ip) => (configured.has(ip) ? localReport(local, ip) : undefined) });
    } else if (m.metadata) {
      const reports = peerReports(m.metadata);
      const sameConfig = m.metadata.manifestDigest === myDigest;
      view.set(m.name, {
        get: (ip) =>
          reports.get(ip) ?? ((sameConfig || pending(ip)) && configured.has(ip) ? ELIGIBLE : undefined),
      });
    } else view.set(m.name, new Map());
  }
  return view;
}

/**
 * A peer's gossiped eligibility as ip -> report, built once per eligibility object: a new record that
 * changed only the held list keeps its predecessor's (decodeRecord's `previous`).
 */
const peerReportCache = new WeakMap<MemberMetadata["eligibility"], ReadonlyMap<string, EligibilityReport>>();
function peerReports(meta: MemberMetadata): ReadonlyMap<string, EligibilityReport> {
  let reports = peerReportCache.get(meta.eligibility);
  if (!reports) {
    const map = new Map<string, EligibilityReport>();
    for (const ip of meta.eligibility.eligible) map.set(ip, ELIGIBLE);
    for (const x of meta.eligibility.ineligible)
      map.set(x.vip, x.reason === STARTING_REASON ? ELIGIBLE : { eligible: false, reason: x.reason });
    peerReportCache.set(meta.eligibility, map);
    reports = map;
  }
  return reports;
}
