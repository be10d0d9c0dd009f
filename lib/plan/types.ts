// The node planner's contract: what it reads (a Snapshot), what it remembers between passes
// (PlannerMemory) and what it decides (a Plan). The planner (planner.ts) is pure: no I/O, no clock reads, no
// timers; the daemon takes the snapshot from its edges, calls plan(), and applies the plan through them.
//
// Extending it: a new input is a new readonly field on Snapshot (or on one of its views); a new decision is a
// new field on Plan. Keep lookups lazy (an interface with get()/choice()), not materialised maps: a pass runs
// every second over up to 10,000 VIPs, and per-pass maps that size end up in the old generation.
//
// Time: `now` is monotonic milliseconds (performance.now() in the daemon, virtual time in the simulator);
// `wallTime` is epoch milliseconds, used only for what the status shows as an ISO time.
import type { ElectionResult, GroupPlan, MemberState, VipGroup } from "../election/election";
import type { QuorumPolicy, QuorumVerdict } from "../election/quorum";
import type { NewGroups } from "./new-groups";
import type { Labels, ManifestConfig } from "../config/types";
import type { MemberMetadata } from "../gossip/metadata";
import type { MemberVersions } from "../gossip/version";
import type { InterfaceChoice } from "../net/interface-choice";
import type { HoldFailures } from "./hold-failures";

/** The config in force, as far as planning needs it (lib/daemon/config-state.ts ActiveConfig fits). */
export interface PlanConfig {
  readonly config: ManifestConfig;
  readonly groups: readonly VipGroup[];
  /** Every IP of every group -> its group. */
  readonly groupByIp: ReadonlyMap<string, VipGroup>;
  /** electionIp -> the config-only part of its election. */
  readonly plans: ReadonlyMap<string, GroupPlan>;
  readonly load: { readonly digest: string };
}

/** This node's own settings that decisions depend on. */
export interface NodePolicy {
  readonly name: string;
  readonly labels: Labels;
  /** cluster.failback: false = non-revertive everywhere. */
  readonly failback: boolean;
  readonly quorum: QuorumPolicy;
  /** cluster.arpProbeMs > 0: a takeover that is not a handover is probed first (ARP RFC 5227, NS for IPv6). */
  readonly probeBeforeTakeover: boolean;
}

/** A member as the gossip layer shows it (MemberView fits). */
export interface PlanMember {
  readonly name: string;
  readonly state: MemberState;
  readonly metadata?: MemberMetadata;
  /** The versions it advertised (vipd 0.1.0's when it advertised none); absent until its metadata came. */
  readonly versions?: MemberVersions;
}

/** A membership event the gossip layer reported since the previous pass, with when it arrived. */
export interface MemberEvent {
  readonly kind: "join" | "alive" | "suspect" | "dead" | "leave" | "metadata";
  readonly member: string;
  /** Monotonic ms at which the event arrived. */
  readonly at: number;
}

/** The local links and addresses as observed: which interface each VIP would go on, or why none. */
export interface LinkView {
  choice(ip: string): InterfaceChoice | undefined;
}

/** Health of the services on an IP, as this node's checks see them. */
export interface HealthView {
  /** Why some service on `ip` is not healthy here, or undefined when all are (or none is checked). */
  unhealthyReason(ip: string): string | undefined;
  /** Whether some service on `ip` has a health check at all (the cheap common case is "no"). */
  checked(ip: string): boolean;
}

/** A foreign device a probe found answering for an IP. */
export interface ForeignConflict {
  readonly mac: string;
  /** Wall time it was first seen, for the status. */
  readonly since: Date;
  /** Monotonic ms after which it is probed again. */
  readonly nextProbeAt: number;
}

/** What the RFC 5227 probes found (lib/daemon/conflict-book.ts keeps it). */
export interface ConflictView {
  /** ip -> the foreign device found on it; such an IP is not taken and is probed again later. */
  readonly foreign: ReadonlyMap<string, ForeignConflict>;
  /** Probes in flight. */
  isProbing(ip: string): boolean;
  /** When a probe last found nobody answering for `ip` (monotonic ms). */
  probedClearAt(ip: string): number | undefined;
}

/** Why a wanted address is not in the kernel (lib/net/address-applier.ts Divergence fits). */
export interface AddressDivergence {
  readonly ip: string;
  readonly ifname: string;
  /** `add failed: EPERM`, `interface eth1 does not exist`, or `missing` while an add is under way. */
  readonly reason: string;
  /** Monotonic ms since when it has been missing. */
  readonly since: number;
  /** Add attempts that failed in a row. */
  readonly failures: number;
}

/** The observed side: what the kernel holds of the wanted addresses (the address applier fits). */
export interface AddressView {
  /** Whether the kernel holds wanted `ip` on its wanted interface now. */
  observed(ip: string): boolean;
  /** Wanted addresses the kernel does not hold, with why. */
  divergences(): readonly AddressDivergence[];
}

/** The outcome of a trial add (Plan.trials) of an IP this node gave up: error undefined = it worked. */
export interface TrialResult {
  readonly ip: string;
  readonly error: string | undefined;
}

export interface Snapshot {
  readonly now: number;
  readonly wallTime: number;
  readonly node: NodePolicy;
  readonly config: PlanConfig;
  /** Every member this node knows, itself included. */
  readonly members: readonly PlanMember[];
  /** Membership events since the previous pass, oldest first. */
  readonly memberEvents: readonly MemberEvent[];
  readonly links: LinkView;
  readonly health: HealthView;
  readonly conflicts: ConflictView;
  /** The addresses the previous plan wanted (ip -> interface), i.e. what this node holds or is adding. */
  readonly held: ReadonlyMap<string, string>;
  /**
   * The held addresses the kernel has confirmed and whose takeover announcement went out. A group is claimed
   * in gossip only once all its addresses are placed: a peer handing it over lets go on that claim.
   */
  readonly placed: { has(ip: string): boolean };
  /** Readiness: before it (joined, or gave up waiting for peers) this node takes nothing. */
  readonly ready: boolean;
  /** What the kernel holds of `held`; absent: all of it (the simulator's links never fail). */
  readonly addresses?: AddressView;
  /** Trial adds finished since the previous pass. */
  readonly trialResults?: readonly TrialResult[];
}

export interface Ownership {
  readonly owner: string | undefined;
  /** Wall time (ms since the epoch) this node first saw the current owner: a number, not a Date (~100 bytes
   *  each, one per VIP). */
  readonly since: number;
}

/**
 * What the planner remembers between passes. Owned by the planner: the caller creates it once with
 * newPlannerMemory() and passes the same object back each time; plan() updates it in place (updating beats
 * copying 10,000-entry maps every second). Readers (status, telemetry) only read it.
 */
export interface PlannerMemory {
  /** electionIp -> the owner as last decided (after quorum and readiness). */
  readonly ownership: Map<string, Ownership>;
  /** electionIp -> the last election result (before readiness), kept as the same object while unchanged. */
  readonly elections: Map<string, ElectionResult>;
  /** electionIp -> when its owner was seen failing or leaving (handover window, failover histogram). */
  readonly failedOwnerAt: Map<string, number>;
  /** electionIp -> when this node stopped claiming it (gossiped as `released` for the handover window). */
  readonly releasedAt: Map<string, number>;
  /** electionIp -> the member last seen claiming or releasing it, and when. */
  readonly lastHolders: Map<string, { member: string; at: number }>;
  /** electionIp -> peers that still claim an IP this node owns. */
  readonly contested: Map<string, readonly string[]>;
  /** "ip|member" pairs already answered with a re-announce while this node holds the IP. */
  readonly memberClaimsAnswered: Set<string>;
  /** electionIp -> the hand-over of a group this node still holds to the member elected in its place. */
  readonly handovers: Map<string, Handover>;
  /** electionIp -> since when this node, elected, waits for the live member holding it to hand it over. */
  readonly takeoverWaits: Map<string, number>;
  /** electionIp -> a takeover from a vipd 0.1.0 holder in progress (see LegacyTakeover). */
  readonly legacyTakeovers: Map<string, LegacyTakeover>;
  /** Election IPs this node claims in gossip, sorted; the same array while unchanged. */
  ownedGroups: readonly string[];
  quorumOk: boolean;
  /** Monotonic ms of the last pass (-Infinity before the first): a probe result newer than it is unused. */
  lastPassAt: number;
  /** VIPs this node failed to add repeatedly: it is ineligible for them until a trial add works. */
  readonly hold: HoldFailures;
  /** Groups a reload just added (see new-groups.ts); undefined before the first pass. */
  newGroups?: NewGroups;
  /** The config the last pass elected on; undefined before the first pass. */
  electedConfig?: PlanConfig;
}

/**
 * Make-before-break: a holder that loses the election to a live member keeps the addresses (without
 * claiming or announcing them) until the new owner has them, so there is no moment when nobody answers.
 */
export interface Handover {
  /** The member elected in this node's place. */
  readonly to: string;
  /** Monotonic ms the hand-over began. */
  readonly since: number;
  /** The new owner's own announcement (gratuitous ARP) for the group was seen on the wire. */
  announced: boolean;
  /**
   * Monotonic ms of the first pass that saw the new owner holding the group (its announcement, or its claim).
   * The address stays here HANDOVER_DRAIN_MS longer, for packets clients sent before they switched.
   */
  handedAt?: number;
}

/**
 * Taking a group over from a vipd 0.1.0 holder, which cannot hand over: it lets go as soon as it sees a
 * better candidate, without waiting for it to answer, and while it still holds the IP it answers a member's
 * announcement with one of its own (once). So this node keeps its eligibility for the group to itself, adds
 * the address and announces it, answers the holder's counter-announcement (clients then come to us while the
 * holder still answers too), and only then says it is eligible and claims the group: the holder lets go
 * with clients already here.
 */
export interface LegacyTakeover {
  readonly holder: string;
  /** Monotonic ms the addresses were all in place and announced. */
  placedAt: number | undefined;
  /** This node answered the holder's counter-announcement. */
  answered: boolean;
  /** Monotonic ms of the first pass after the answer: eligible HANDOVER_DRAIN_MS later. */
  answeredAt?: number;
}

/**
 * Locally eligible IPs this node reports as not eligible for now, and why: every IP before it is ready
 * (STARTING_REASON), and a group it is taking over from a vipd 0.1.0 holder until its address is in place
 * (0.1.0 lets go as soon as it sees a better candidate, before the new owner answers).
 */
export interface WithheldEligibility {
  /** The reason for every IP, when set. */
  readonly all?: string;
  readonly ips: ReadonlyMap<string, string>;
}

/** An ARP probe to start before taking an IP (or again, for a foreign conflict that is due). */
export interface ProbeRequest {
  readonly ip: string;
  readonly interfaces: readonly string[];
  readonly cause: "takeover" | "reprobe";
}

/** Gratuitous ARP / unsolicited NA for IPs this node already holds (takeovers announce when added). */
export interface Announcement {
  readonly ips: readonly string[];
  readonly cause: string;
  /** A safety net over every held IP (a member came back): its frames go behind takeovers' first rounds. */
  readonly routine?: boolean;
}

export interface OwnerChange {
  readonly group: VipGroup;
  readonly from: string | undefined;
  readonly to: string | undefined;
}

/** Something to tell the operator: `event` goes to the status and the log, `log` to the log only. */
export interface PlanEvent {
  readonly level: "event" | "log";
  readonly reason: string;
  readonly message: string;
  readonly fields: Readonly<Record<string, string | undefined>>;
  readonly service?: string;
  readonly ip?: string;
  /**
   * Logged at debug, though kept among the recent events: another node's business (an IP moving between two
   * peers). Each node logs what it takes and gives up, as each MetalLB speaker reports only what it
   * announces; a 10,000-VIP takeover otherwise wrote every peer's share into every journal.
   */
  readonly quiet?: boolean;
}

/** Try to add `ip` on `interface` and remove it at once: can this node hold it again? */
export interface TrialRequest {
  readonly ip: string;
  readonly interface: string;
}

export interface Plan {
  readonly quorum: QuorumVerdict;
  /** ip -> interface this node should hold; the `held` object itself when unchanged. */
  readonly addresses: ReadonlyMap<string, string>;
  /** Election IPs this node claims in gossip (memory.ownedGroups). */
  readonly owned: readonly string[];
  /** Election IPs released within the handover window, sorted; gossiped so the next owner skips its probe. */
  readonly released: readonly string[];
  /** Addresses to watch for foreign claims (the wanted VIPs: ARP for IPv4, Neighbor Advertisements for IPv6). */
  readonly watched: readonly string[];
  readonly probes: readonly ProbeRequest[];
  readonly announcements: readonly Announcement[];
  /** IPs held before and not wanted now: stop announcing them. */
  readonly withdrawals: readonly string[];
  /** IPs still held but being handed over: stop announcing them (the new owner's word must be the last). */
  readonly silenced: readonly string[];
  /** Eligibility to report as withheld in gossip (see WithheldEligibility). */
  readonly withheld: WithheldEligibility;
  readonly ownerChanges: readonly OwnerChange[];
  readonly events: readonly PlanEvent[];
  /** Trial adds of given-up VIPs that are due (their results come back as Snapshot.trialResults). */
  readonly trials: readonly TrialRequest[];
  /** Set when this node can hold none of its VIPs: it reports not-ready, with this reason. */
  readonly cannotHoldAny: string | undefined;
  /**
   * Monotonic ms at which a pass is due even if nothing else happens (a hand-over's drain ends): the caller
   * runs one then. Undefined: only events and the periodic tick need passes.
   */
  readonly nextPassAt: number | undefined;
}
