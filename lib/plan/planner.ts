// The node planner: from a snapshot of what this node sees, decide who owns each VIP group, which addresses
// this node should hold, which takeovers to probe first, what to re-announce and why. Pure: no I/O, no clock
// reads, no timers (see types.ts for the contract). The election itself (ranking, stickiness) is
// lib/election/election.ts; the quorum gate is lib/election/quorum.ts; this module combines them with
// readiness, the handover window, conflicts and health into one plan per pass.
import {
  electOwner,
  isLive,
  planGroup,
  type ElectionResult,
  type GroupPlan,
  type MemberInfo,
  type VipGroup,
} from "../election/election";
import { quorumOf } from "../election/quorum";
import {
  drainEnd,
  handOver,
  handsOver,
  HANDOVER_DRAIN_MS,
  LEGACY_ANSWER_WAIT_MS,
  liveHolder,
  TAKEOVER_WAIT_MAX_MS,
} from "./handover";
import { EMPTY_LIST, sameElection, sameList } from "./compare";
import { eligibilityView, localReport, STARTING_REASON, type LocalInputs } from "./eligibility";
import { HoldFailures } from "./hold-failures";
import { updateHolding } from "./holding";
import { trackNewGroups } from "./new-groups";
import type {
  Announcement,
  Handover,
  LegacyTakeover,
  OwnerChange,
  Plan,
  PlanEvent,
  PlannerMemory,
  ProbeRequest,
  Snapshot,
  WithheldEligibility,
} from "./types";

/**
 * A clean probe lets the pass right after it take the IP, however late that pass runs (a node busy taking
 * over 1,000 VIPs at start-up ran it 1.5 s later and probed them all again); passes after that one take it
 * for this long, later takeovers probe again.
 */
export const PROBE_RESULT_VALID_MS = 1000;
/**
 * A takeover from a member seen holding the IP (or failing) this recently is a handover: no probe, so
 * failovers and moves stay as fast as without conflict detection.
 */
export const HANDOVER_WINDOW_MS = 30_000;

export function newPlannerMemory(): PlannerMemory {
  return {
    ownership: new Map(),
    elections: new Map(),
    failedOwnerAt: new Map(),
    releasedAt: new Map(),
    lastHolders: new Map(),
    contested: new Map(),
    memberClaimsAnswered: new Set(),
    handovers: new Map(),
    takeoverWaits: new Map(),
    legacyTakeovers: new Map(),
    ownedGroups: EMPTY_LIST,
    quorumOk: true,
    lastPassAt: Number.NEGATIVE_INFINITY,
    hold: new HoldFailures(),
  };
}

export function plan(s: Snapshot, memory: PlannerMemory): Plan {
  const { now, node, config } = s;
  const self = node.name;
  const events: PlanEvent[] = [];
  const event = (e: Omit<PlanEvent, "level" | "fields"> & Partial<Pick<PlanEvent, "fields">>): void => {
    events.push({ level: "event", fields: {}, ...e });
  };

  const { departed, memberReturned } = membershipNews(s, memory);

  // Without quorum this node cannot know who owns what: it holds nothing and says why.
  const quorum = quorumOf(
    s.members.map((m) => m.state),
    node.quorum,
  );
  if (quorum.ok !== memory.quorumOk) {
    memory.quorumOk = quorum.ok;
    if (quorum.ok)
      event({
        reason: "quorumRegained",
        message: `sees ${quorum.seen} members (${quorum.needed} needed): may hold VIPs`,
      });
    else event({ reason: "quorumLost", message: `${quorum.reason ?? "no quorum"}: releasing every VIP` });
  }

  const claims = peerClaims(s);
  for (const [ip, names] of claims) sawHolder(memory, ip, names[0] ?? "", now);
  for (const m of s.members) {
    if (m.name === self || !isLive(m.state)) continue;
    for (const ip of m.metadata?.released ?? []) sawHolder(memory, ip, m.name, now);
  }

  const memberInfos: MemberInfo[] = s.members.map((m) => ({
    name: m.name,
    state: m.state,
    labels: m.name === self ? node.labels : (m.metadata?.labels ?? {}),
  }));
  // VIPs this node keeps failing to add are given up before the election, so this pass already hands them on.
  const holding = updateHolding(s, memory, events);
  const local: LocalInputs = { links: s.links, conflicts: s.conflicts, health: s.health, hold: memory.hold };
  const newGroups = trackNewGroups(memory.newGroups, config, now);
  memory.newGroups = newGroups.tracked;
  const view = eligibilityView(s, local, newGroups.pending);
  // The pass right after a reload elects the groups the reload added or changed; every other group keeps
  // its last result for this one pass (its plan is the very object it was: the same services and
  // advertisements) and a full pass follows at once, as after a death. At 10,000 services re-electing the
  // groups an edit left alone was ~220 ms of a profiled pass while the new VIP waited for its election.
  const reloadedFrom =
    memory.electedConfig !== undefined && memory.electedConfig !== config && s.memberEvents.length === 0
      ? memory.electedConfig.plans
      : undefined;
  memory.electedConfig = config;
  const pass = new GroupPass(s, memory, {
    events,
    local,
    quorum,
    claims,
    view,
    memberInfos,
    departed,
    liveNames: new Set(departed.size > 0 ? s.members.filter((m) => isLive(m.state)).map((m) => m.name) : []),
    reloadedFrom,
  });
  for (const group of config.groups) pass.planGroup(group);
  const { wantedIps, wantedItfs, owned, probes, handingOver, withheldIps, announcements } = pass;
  for (const ip of [...memory.handovers.keys()]) if (!config.plans.has(ip)) memory.handovers.delete(ip);
  for (const ip of [...memory.takeoverWaits.keys()])
    if (!config.plans.has(ip)) memory.takeoverWaits.delete(ip);
  for (const ip of [...memory.legacyTakeovers.keys()])
    if (memory.ownership.get(ip)?.owner !== self) memory.legacyTakeovers.delete(ip);
  const held = s.held;
  const addresses: ReadonlyMap<string, string> = sameAsLists(held, wantedIps, wantedItfs)
    ? held
    : new Map(wantedIps.map((ip, i) => [ip, wantedItfs[i] ?? ""]));

  // Foreign conflicts whose re-probe is due (every node that found the device re-probes on its own).
  for (const [ip, conflict] of s.conflicts.foreign) {
    if (!config.groupByIp.has(ip) || conflict.nextProbeAt > now) continue;
    const choice = s.links.choice(ip);
    if (choice?.eligible) pass.requestProbe(ip, choice.interfaces, "reprobe");
  }
  for (const key of memory.memberClaimsAnswered)
    if (!addresses.has(key.slice(0, key.indexOf("|")))) memory.memberClaimsAnswered.delete(key);

  owned.sort();
  trackReleases(memory, owned, now);
  if (!sameList(owned, memory.ownedGroups)) memory.ownedGroups = owned;

  const reannounce = (ips: Iterable<string>, cause: string, routine = false): void => {
    const sent = heldIps(s, ips);
    if (sent.length > 0) announcements.push(routine ? { ips: sent, cause, routine } : { ips: sent, cause });
  };
  resolveContested(s, memory, claims, events, reannounce);
  // After this pass has decided, so a node that is about to lose an IP (a healed partition) does not send the
  // last word; nor does a node handing an IP over (the new owner's announcement must stay the last).
  if (memberReturned) {
    const ours =
      handingOver.size === 0
        ? addresses.keys()
        : [...addresses.keys()].filter((ip) => !handingOver.has(config.groupByIp.get(ip)?.electionIp ?? ip));
    reannounce(ours, "a member joined or came back", true);
  }
  const withheld: WithheldEligibility = !s.ready
    ? STARTING
    : withheldIps.size > 0
      ? { ips: withheldIps }
      : NOTHING_WITHHELD;

  const withdrawals: string[] = [];
  for (const ip of held.keys()) if (!addresses.has(ip)) withdrawals.push(ip);
  // A group handed over stays here, silent: a repeat round of its earlier takeover burst (seen 4 s after a
  // takeover, mid-drain) turned clients back to this node just before it let go.
  const silenced: string[] = [];
  for (const electionIp of handingOver)
    for (const ip of config.groupByIp.get(electionIp)?.ips ?? EMPTY_LIST) if (held.has(ip)) silenced.push(ip);
  memory.lastPassAt = now;
  return {
    quorum,
    addresses,
    owned: memory.ownedGroups,
    released: memory.releasedAt.size > 0 ? [...memory.releasedAt.keys()].sort() : EMPTY_LIST,
    watched: wantedIps,
    probes: probes.length > 0 ? probes : EMPTY_LIST,
    announcements: announcements.length > 0 ? announcements : EMPTY_LIST,
    withdrawals: withdrawals.length > 0 ? withdrawals : EMPTY_LIST,
    silenced: silenced.length > 0 ? silenced : EMPTY_LIST,
    withheld,
    ownerChanges: pass.ownerChanges.length > 0 ? pass.ownerChanges : EMPTY_LIST,
    events: events.length > 0 ? events : EMPTY_LIST,
    trials: holding.trials,
    cannotHoldAny: holding.cannotHoldAny,
    nextPassAt: pass.keptElections ? now : drainEnd(memory),
  };
}

/**
 * Membership news: an owner that failed or left starts the handover window for its groups; a member that
 * (re)appears may have announced our IPs during a partition, so ours are said again after this pass. Its own
 * function: deaths are rare, and code first run in a death threw away all of `plan`'s optimized code.
 */
function membershipNews(
  s: Snapshot,
  memory: PlannerMemory,
): { departed: ReadonlySet<string>; memberReturned: boolean } {
  let memberReturned = false;
  const departed = new Set<string>();
  for (const e of s.memberEvents) {
    if (e.member === s.node.name) continue;
    if (e.kind === "dead" || e.kind === "leave") {
      departed.add(e.member);
      for (const [ip, o] of memory.ownership) if (o.owner === e.member) memory.failedOwnerAt.set(ip, e.at);
    }
    if (e.kind === "join" || e.kind === "alive") memberReturned = true;
  }
  return { departed, memberReturned };
}

/** What a pass's group-by-group work reads besides the snapshot and the memory. */
interface GroupPassInputs {
  readonly events: PlanEvent[];
  readonly local: LocalInputs;
  readonly quorum: ReturnType<typeof quorumOf>;
  readonly claims: ReadonlyMap<string, readonly string[]>;
  readonly view: ReturnType<typeof eligibilityView>;
  readonly memberInfos: readonly MemberInfo[];
  /** Members that died or left since the last pass. */
  readonly departed: ReadonlySet<string>;
  /** Live members, filled only when some departed. */
  readonly liveNames: ReadonlySet<string>;
  /** The previous config's plans when this pass is the one right after a reload. */
  readonly reloadedFrom: ReadonlyMap<string, GroupPlan> | undefined;
}

/**
 * One pass over the groups: elect each, then either hand it on (someone else's) or take it (ours), and gather
 * what the pass wants. A class of small methods, not one loop in `plan`: V8 optimizes a function whole, and
 * code a pass has not run before (a death, a hand-over) throws the optimized code away. `plan` as one
 * function was re-optimized 17 times in a simulated 10,000-VIP crash, ~50 ms of compiling each, and in the lab
 * those compiles took a third of a core from the survivors in the middle of their takeover (round 19).
 */
class GroupPass {
  // The wanted set is gathered in two flat lists and becomes a new map only when it differs from `held`:
  // a 10,000-entry map per pass lands in large-object space (old generation).
  readonly wantedIps: string[] = [];
  readonly wantedItfs: string[] = [];
  /** Groups this node holds in full and claims in gossip. */
  readonly owned: string[] = [];
  readonly probes: ProbeRequest[] = [];
  readonly ownerChanges: OwnerChange[] = [];
  /** Election IPs this node keeps only until the new owner announces them. */
  readonly handingOver = new Set<string>();
  readonly withheldIps = new Map<string, string>();
  readonly announcements: Announcement[] = [];
  /** Some group kept its last election without re-running it: a full pass follows at once. */
  keptElections = false;
  private readonly probeRequested = new Set<string>();
  private readonly self: string;
  private readonly selfOnly: readonly string[];
  // One policy object for the whole loop; electOwner does not keep it.
  private readonly policy: {
    failback: boolean;
    currentOwner: string | undefined;
    claimants: readonly string[];
  } = { failback: false, currentOwner: undefined, claimants: EMPTY_LIST };

  constructor(
    private readonly s: Snapshot,
    private readonly memory: PlannerMemory,
    private readonly inputs: GroupPassInputs,
  ) {
    this.self = s.node.name;
    this.selfOnly = [this.self];
  }

  requestProbe(ip: string, interfaces: readonly string[], cause: ProbeRequest["cause"]): void {
    if (this.s.conflicts.isProbing(ip) || this.probeRequested.has(ip)) return;
    this.probeRequested.add(ip);
    this.probes.push({ ip, interfaces, cause });
  }

  planGroup(group: VipGroup): void {
    const current = this.memory.ownership.get(group.electionIp);
    const result = this.elect(group, current);
    // Readiness gate: the ranking is shown, but nothing is taken before the node is ready.
    const owner = this.s.ready ? result.owner : undefined;
    if (owner !== current?.owner) this.ownerChanged(group, current?.owner, owner);
    if (owner === this.self) this.takeGroup(group);
    else this.leaveGroup(group, current?.owner, owner, result);
  }

  /** The group's election this pass: re-run, or kept (a death or a reload that did not touch it). */
  private elect(group: VipGroup, current: { owner: string | undefined } | undefined): ElectionResult {
    const { s, memory, inputs, policy, self } = this;
    const config = s.config;
    const groupPlan = config.plans.get(group.electionIp) ?? planGroup(group, config.config);
    const previous = memory.elections.get(group.electionIp);
    const peerClaimants = inputs.claims.get(group.electionIp);
    policy.failback = s.node.failback && groupPlan.failback;
    policy.currentOwner = current?.owner;
    // Stickiness: a holder counts itself as a claimant, so non-revertive mode keeps it.
    policy.claimants =
      current?.owner === self
        ? peerClaimants
          ? [self, ...peerClaimants]
          : this.selfOnly
        : (peerClaimants ?? EMPTY_LIST);
    // The pass that sees a member die or leave elects only the groups it owned, and asks for a full pass
    // right after (nextPassAt). A member that did not own a group cannot change who does (it was neither
    // the first candidate nor the sticky claimant): only the ranking, which still lists it, waits. At 1,000
    // VIPs every group's election re-ran before the first add (each ranking names the dead member).
    const keep =
      inputs.departed.size > 0 && current?.owner !== undefined && previous?.owner === current.owner
        ? !inputs.departed.has(current.owner) && inputs.liveNames.has(current.owner)
        : inputs.reloadedFrom !== undefined &&
          previous !== undefined &&
          previous.owner === current?.owner &&
          inputs.reloadedFrom.get(group.electionIp) === groupPlan;
    if (keep) this.keptElections = true;
    const elected =
      keep && previous ? previous : electOwner(groupPlan, inputs.memberInfos, inputs.view, policy, previous);
    const result: ElectionResult = inputs.quorum.ok
      ? elected
      : { ranking: elected.ranking, interfaces: [], reason: inputs.quorum.reason };
    // Keep the stored result when nothing changed: replacing 10,000 long-lived results every pass
    // promoted them all to the old generation.
    if (previous === undefined || (result !== previous && !sameElection(previous, result)))
      memory.elections.set(group.electionIp, result);
    return result;
  }

  private ownerChanged(group: VipGroup, from: string | undefined, to: string | undefined): void {
    this.memory.ownership.set(group.electionIp, { owner: to, since: this.s.wallTime });
    this.ownerChanges.push({ group, from, to });
    ownerChangeEvents(this.s, this.inputs.local, group, from, to, this.inputs.events);
  }

  /** Someone else's group (or nobody's): nothing to do unless this node held it and hands it over. */
  private leaveGroup(
    group: VipGroup,
    was: string | undefined,
    owner: string | undefined,
    result: ElectionResult,
  ): void {
    const { s, memory } = this;
    // Cheap checks first: most groups are someone else's, every pass, 10,000 of them at scale.
    if (memory.takeoverWaits.size > 0) memory.takeoverWaits.delete(group.electionIp);
    if (was !== this.self && !memory.handovers.has(group.electionIp)) return;
    if (!handOver(s, memory, group, was, owner, result, this.inputs.claims, this.inputs.events)) return;
    this.handingOver.add(group.electionIp);
    for (const ip of group.ips) {
      const itf = s.held.get(ip);
      if (itf === undefined) continue;
      this.wantedIps.push(ip);
      this.wantedItfs.push(itf);
    }
  }

  /** Our group: take its addresses (probing first where needed), unless its holder is still handing over. */
  private takeGroup(group: VipGroup): void {
    const { s, memory } = this;
    const handover = memory.handovers.get(group.electionIp);
    if (handover) this.electedAgain(group, handover);
    const holder = liveHolder(s, this.inputs.claims.get(group.electionIp));
    if (holder !== undefined && !group.ips.some((ip) => s.held.has(ip)) && this.waitForHolder(group, holder))
      return;
    memory.takeoverWaits.delete(group.electionIp);
    let legacy = memory.legacyTakeovers.get(group.electionIp);
    if (legacy === undefined && holder !== undefined && !handsOver(holder)) {
      if (!group.ips.some((ip) => s.held.has(ip))) {
        legacy = { holder: holder.name, placedAt: undefined, answered: false };
        memory.legacyTakeovers.set(group.electionIp, legacy);
      }
    }
    let probing = false;
    let placed = true;
    for (const ip of group.ips) {
      const choice = s.links.choice(ip);
      if (!choice?.eligible) continue;
      if (mustProbe(s, memory, ip, group.electionIp)) {
        this.requestProbe(ip, choice.interfaces, "takeover");
        probing = true;
        continue;
      }
      this.wantedIps.push(ip);
      this.wantedItfs.push(choice.interfaces[0] ?? "");
      if (!s.held.has(ip) || !s.placed.has(ip)) placed = false;
    }
    if (legacy !== undefined && this.legacyTakeover(group, legacy, holder, placed && !probing)) return;
    // Claimed in gossip only once the addresses are in place and announced: a holder handing the group over
    // lets go on this claim, and peers know a probe, not a member, found a foreign device.
    if (!probing && placed) this.owned.push(group.electionIp);
  }

  /**
   * Elected again before the hand-over ended (the new owner failed): ours again, and say so if the new owner
   * had already announced it.
   */
  private electedAgain(group: VipGroup, handover: Handover): void {
    this.memory.handovers.delete(group.electionIp);
    const ips = handover.announced ? heldIps(this.s, group.ips) : EMPTY_LIST;
    if (ips.length > 0) this.announcements.push({ ips, cause: `${handover.to} left it before taking it` });
  }

  /**
   * A live holder that hands over make-before-break lets go of its claim once it sees us elected: wait for
   * that, up to TAKEOVER_WAIT_MAX_MS. True while waiting.
   */
  private waitForHolder(group: VipGroup, holder: NonNullable<ReturnType<typeof liveHolder>>): boolean {
    if (!handsOver(holder) || holder.state !== "alive") return false;
    const now = this.s.now;
    const since = this.memory.takeoverWaits.get(group.electionIp) ?? now;
    this.memory.takeoverWaits.set(group.electionIp, since);
    return now - since < TAKEOVER_WAIT_MAX_MS;
  }

  /**
   * A takeover from a 0.1.0 holder, which does not hand over: announce last, let the drain run, and withhold
   * our eligibility until it has seen our announcement. True while the takeover goes on (not claimed yet).
   */
  private legacyTakeover(
    group: VipGroup,
    legacy: LegacyTakeover,
    holder: ReturnType<typeof liveHolder>,
    placedAndClear: boolean,
  ): boolean {
    const { s, memory } = this;
    const now = s.now;
    if (placedAndClear) legacy.placedAt ??= now;
    const waited = legacy.placedAt !== undefined && now - legacy.placedAt >= LEGACY_ANSWER_WAIT_MS;
    if (waited && !legacy.answered) {
      // No counter-announcement seen (it crossed our first announcement, or was lost): clients may still
      // follow the holder's last word, so speak last ourselves before it lets go. 0.1.0 counters a member
      // once, so this one stands; the drain below then runs as after an answer.
      legacy.answered = true;
      const ips = heldIps(s, group.ips);
      if (ips.length > 0)
        this.announcements.push({
          ips,
          cause: `taking over from ${legacy.holder}: announcing before it lets go`,
        });
    }
    // Answered: the client follows our answer; the drain lets frames sent to the holder before it land
    // there before we say eligible (and 0.1.0 drops the address at once).
    if (legacy.answered) legacy.answeredAt ??= now;
    const drained = legacy.answeredAt !== undefined && now >= legacy.answeredAt + HANDOVER_DRAIN_MS;
    if (holder?.name !== legacy.holder || (legacy.placedAt !== undefined && drained)) {
      memory.legacyTakeovers.delete(group.electionIp);
      return false;
    }
    for (const ip of group.ips)
      this.withheldIps.set(ip, `taking over from ${legacy.holder}: until it has seen our announcement`);
    return true;
  }
}

const STARTING: WithheldEligibility = Object.freeze({ all: STARTING_REASON, ips: new Map<string, string>() });
const NOTHING_WITHHELD: WithheldEligibility = Object.freeze({ ips: new Map<string, string>() });

/**
 * A VIP this node is about to take is probed first (ARP, RFC 5227; a DAD-style Neighbor Solicitation for
 * IPv6, RFC 4862) unless it is already held here or
 * the takeover is a handover from a member: one that held it, or failed or left, recently.
 */
export function mustProbe(s: Snapshot, memory: PlannerMemory, ip: string, electionIp: string): boolean {
  if (!s.node.probeBeforeTakeover) return false;
  if (s.held.has(ip)) return false;
  const now = s.now;
  const failedAt = memory.failedOwnerAt.get(electionIp);
  if (failedAt !== undefined && now - failedAt < HANDOVER_WINDOW_MS) return false;
  const holder = memory.lastHolders.get(electionIp);
  if (holder !== undefined && now - holder.at < HANDOVER_WINDOW_MS) return false;
  const clearAt = s.conflicts.probedClearAt(ip);
  return clearAt === undefined || (now - clearAt > PROBE_RESULT_VALID_MS && clearAt <= memory.lastPassAt);
}

/**
 * The new owner's address for a failed-over group is in place: returns when the failure was seen (for the
 * failover histogram) and ends the group's handover window from that failure.
 */
export function endFailover(memory: PlannerMemory, electionIp: string): number | undefined {
  const at = memory.failedOwnerAt.get(electionIp);
  if (at !== undefined) memory.failedOwnerAt.delete(electionIp);
  return at;
}

/** Election IPs each live peer says it holds now (gossiped as `owned`). */
function peerClaims(s: Snapshot): Map<string, string[]> {
  const claims = new Map<string, string[]>();
  for (const m of s.members) {
    if (m.name === s.node.name || !isLive(m.state)) continue;
    for (const ip of m.metadata?.owned ?? []) {
      const list = claims.get(ip);
      if (list) list.push(m.name);
      else claims.set(ip, [m.name]);
    }
  }
  return claims;
}

function sawHolder(memory: PlannerMemory, electionIp: string, member: string, now: number): void {
  const seen = memory.lastHolders.get(electionIp);
  // Updated in place: a fresh object per claimed IP per pass is old-generation garbage.
  if (seen === undefined) memory.lastHolders.set(electionIp, { member, at: now });
  else {
    seen.member = member;
    seen.at = now;
  }
}

/** `owned` sorted, like ownedGroups. */
function trackReleases(memory: PlannerMemory, owned: readonly string[], now: number): void {
  // A 10,000-entry set per pass is an old-generation allocation; the held set rarely changes.
  if (!sameList(owned, memory.ownedGroups)) {
    const still = new Set(owned);
    for (const ip of memory.ownedGroups) if (!still.has(ip)) memory.releasedAt.set(ip, now);
  }
  if (memory.releasedAt.size > 0) for (const ip of owned) memory.releasedAt.delete(ip);
  for (const [ip, at] of memory.releasedAt) if (now - at > HANDOVER_WINDOW_MS) memory.releasedAt.delete(ip);
}

/**
 * Member-vs-member conflicts: while a peer still claims an IP this node won by election order, remember
 * it; once the peer lets go, re-send our burst so the last word on the wire is the winner's.
 */
function resolveContested(
  s: Snapshot,
  memory: PlannerMemory,
  claims: ReadonlyMap<string, readonly string[]>,
  events: PlanEvent[],
  reannounce: (ips: Iterable<string>, cause: string) => void,
): void {
  const owned = memory.ownedGroups;
  if (memory.contested.size > 0) {
    const mine = new Set(owned);
    for (const ip of [...memory.contested.keys()]) if (!mine.has(ip)) memory.contested.delete(ip);
  }
  for (const electionIp of owned) {
    const rivals = claims.get(electionIp) ?? EMPTY_LIST;
    if (rivals.length > 0) {
      // Also the normal tail of a handover (the old owner has not let go yet), so a log line, not an event.
      if (!memory.contested.has(electionIp)) {
        events.push({
          level: "log",
          reason: "ownershipContested",
          message: `${rivals.join(", ")} still holds ${electionIp}`,
          fields: { ip: electionIp, rivals: rivals.join(",") },
        });
      }
      memory.contested.set(electionIp, rivals);
    } else if (memory.contested.has(electionIp)) {
      const was = memory.contested.get(electionIp) ?? [];
      memory.contested.delete(electionIp);
      const group = s.config.groupByIp.get(electionIp);
      reannounce(group?.ips ?? [electionIp], `${was.join(", ")} released it`);
    }
  }
}

/** The IPs of `ips` this node held before the pass (new ones get their takeover burst when added). */
function heldIps(s: Snapshot, ips: Iterable<string>): string[] {
  if (!s.ready) return [];
  const sent: string[] = [];
  for (const ip of ips) if (s.held.has(ip)) sent.push(ip);
  return sent;
}

function ownerChangeEvents(
  s: Snapshot,
  local: LocalInputs,
  group: VipGroup,
  before: string | undefined,
  after: string | undefined,
  events: PlanEvent[],
): void {
  if (before === undefined && after === undefined) return;
  const fields = { ip: group.ips.join(","), services: group.services.join(","), from: before, to: after };
  if (after === undefined) {
    events.push({
      level: "event",
      reason: "announceWithdrawn",
      message: `nobody announces ${group.ips.join(",")}`,
      fields,
      ip: group.electionIp,
    });
    return;
  }
  const self = s.node.name;
  const itf = after === self ? (localReport(local, group.electionIp).interface ?? "") : "";
  const quiet = before !== self && after !== self;
  for (const service of group.services) {
    events.push({
      level: "event",
      reason: "nodeAssigned",
      message: `announcing from node "${after}" with protocol "layer2"`,
      fields: { ...fields, service, interface: itf || undefined },
      service,
      ip: group.electionIp,
      ...(quiet ? { quiet } : {}),
    });
  }
}

function sameAsLists(
  map: ReadonlyMap<string, string>,
  keys: readonly string[],
  values: readonly string[],
): boolean {
  if (map.size !== keys.length) return false;
  for (let i = 0; i < keys.length; i++) if (map.get(keys[i] ?? "") !== values[i]) return false;
  return true;
}
