// The `/status` document (lib/daemon/status-types.ts) built from what the daemon and the planner hold.
// Read-only: nothing here decides or changes anything.
import type { MemberView } from "../gossip/memberlist";
import { METADATA_RANGE, PROTOCOL_RANGE } from "../gossip/version";
import type { HealthEntry } from "../health/monitor";
import { conflictReason } from "../net/arp-conflict";
import type { HoldView } from "../plan/hold-failures";
import { withHashes } from "../election/election";
import { divergenceText, groupHolding } from "../plan/holding";
import type { AddressView, PlannerMemory } from "../plan/types";
import type { ActiveConfig } from "./config-state";
import type { ConflictBook } from "./conflict-book";
import type {
  DaemonStatus,
  StatusDetection,
  StatusEvent,
  StatusHolding,
  StatusMember,
  StatusVip,
} from "./status-types";

export interface StatusInputs {
  readonly node: string;
  /** This node's own release and negotiated versions (the member mirror has them from start-up only). */
  readonly ownVersion: Pick<StatusMember, "version" | "versions">;
  readonly version: string;
  readonly startedAt: Date;
  readonly ready: boolean;
  readonly notReadyReason: string | undefined;
  /** Monotonic ms now (divergence ages). */
  readonly now: number;
  /** Intended: the addresses the plan wants on this node (ip -> interface). */
  readonly intended: ReadonlyMap<string, string>;
  /** Observed: what the kernel holds of them, and why not. */
  readonly addresses: AddressView;
  /** VIPs this node gave up because it cannot add them. */
  readonly hold: HoldView;
  /** Why this node, the elected owner, has not taken `ip` (no usable interface, a probe running). */
  readonly notTakenReason: (ip: string) => string;
  readonly stale: boolean;
  readonly staleErrors: readonly string[];
  readonly active: ActiveConfig;
  readonly members: readonly MemberView[];
  /** Per watched member, the silence after which this node declares it failed (GossipStats.verdictTimeoutsMs). */
  readonly verdictTimeoutsMs: Readonly<Record<string, number>>;
  readonly memory: PlannerMemory;
  /** Why this node holds no VIPs for lack of quorum, if so. */
  readonly quorumReason: string | undefined;
  readonly conflicts: ConflictBook;
  readonly health: readonly HealthEntry[];
  /** Failure-detection timings in force on this node. */
  readonly detection: StatusDetection;
  readonly events: readonly StatusEvent[];
  /** The interface `owner` announces `ip` on, as it reports it. */
  readonly interfaceOf: (owner: string, ip: string) => string | null;
}

export function statusView(s: StatusInputs): DaemonStatus {
  const { active, memory } = s;
  const ownerCounts = new Map<string, number>();
  for (const o of memory.ownership.values()) {
    if (o.owner) ownerCounts.set(o.owner, (ownerCounts.get(o.owner) ?? 0) + 1);
  }
  const digest = active.load.digest;
  const divergences = new Map(s.addresses.divergences().map((d) => [d.ip, d]));
  const vips: StatusVip[] = active.groups.map((g) => {
    const election = memory.elections.get(g.electionIp);
    const owned = memory.ownership.get(g.electionIp);
    const owner = election?.owner ?? null;
    const mine = owner === s.node && owned?.owner === s.node;
    const holding = mine
      ? groupHolding(g.ips, s.intended, s.addresses, divergences, s.hold, s.notTakenReason, s.now)
      : undefined;
    return {
      ...holding,
      ip: g.electionIp,
      ips: g.ips,
      services: g.services,
      pool: g.pool,
      owner,
      interface: owner ? s.interfaceOf(owner, g.electionIp) : null,
      since: owned?.owner ? new Date(owned.since).toISOString() : null,
      ranking: withHashes(election?.ranking ?? [], active.plans.get(g.electionIp)),
      ...(election?.reason ? { reason: election.reason } : {}),
    };
  });
  const warnings: string[] = [];
  for (const m of s.members) {
    if (m.metadata && m.metadata.manifestDigest !== digest && m.state !== "dead" && m.state !== "left") {
      warnings.push(
        `configMismatch: node ${m.name} runs manifests ${m.metadata.manifestDigest.slice(0, 12)}, this node ${digest.slice(0, 12)}`,
      );
    }
    for (const x of m.metadata?.eligibility.ineligible ?? [])
      warnings.push(`${m.name} cannot serve ${x.vip}: ${x.reason}`);
  }
  for (const w of active.allocation.warnings) warnings.push(w.message);
  if (s.quorumReason) warnings.unshift(`${s.quorumReason}: this node holds no VIPs`);
  for (const [ip, c] of s.conflicts.foreign)
    warnings.unshift(`addressConflict: ${conflictReason(ip, c.mac)}; this node does not take it`);
  for (const [ip, c] of s.conflicts.held)
    warnings.unshift(
      `addressConflict: ${ip} held by this node is also claimed by ${c.mac} (not a cluster member) since ${c.since.toISOString()}`,
    );
  return {
    node: s.node,
    version: s.version,
    startedAt: s.startedAt.toISOString(),
    ready: s.ready,
    ...(s.notReadyReason !== undefined ? { notReadyReason: s.notReadyReason } : {}),
    config: {
      loaded: true,
      stale: s.stale,
      lastReload: active.loadedAt.toISOString(),
      digest,
      errors: s.staleErrors,
    },
    members: s.members.map((m) => ({
      name: m.name,
      address: m.addr,
      state: m.state,
      incarnation: m.incarnation,
      manifestDigest: m.metadata?.manifestDigest ?? "",
      vips: ownerCounts.get(m.name) ?? 0,
      self: m.name === s.node,
      configMismatch: m.metadata !== undefined && m.metadata.manifestDigest !== digest,
      ...(m.name !== s.node && s.verdictTimeoutsMs[m.name] !== undefined
        ? { failedAfterMs: s.verdictTimeoutsMs[m.name] }
        : {}),
      ...(m.name === s.node ? s.ownVersion : memberVersion(m)),
    })),
    vips,
    allocationErrors: active.allocation.errors.map((e) => ({ service: e.service, message: e.message })),
    warnings,
    holding: holdingSummary(s, divergences.values()),
    detection: s.detection,
    health: s.health.map((e) => ({
      service: e.service,
      check: e.spec.text,
      status: e.state.status,
      since: e.since.toISOString(),
      ...(e.state.detail && e.state.status === "down" ? { detail: e.state.detail } : {}),
    })),
    events: [...s.events],
  };
}

function holdingSummary(
  s: StatusInputs,
  divergences: Iterable<{ ip: string; ifname: string; reason: string; since: number }>,
): StatusHolding {
  let observed = 0;
  for (const ip of s.intended.keys()) if (s.addresses.observed(ip)) observed++;
  const givenUp: { ip: string; reason: string }[] = [];
  if (s.hold.size > 0)
    for (const g of s.active.groups)
      for (const ip of g.ips) {
        const reason = s.hold.reason(ip);
        if (reason !== undefined) givenUp.push({ ip, reason });
      }
  return {
    intended: s.intended.size,
    observed,
    divergences: [...divergences].map((d) => ({
      ip: d.ip,
      interface: d.ifname,
      reason: divergenceText(d.reason, s.now - d.since),
      seconds: Math.round((s.now - d.since) / 1000),
    })),
    givenUp,
  };
}

/** A member's release and gossip versions for `vipd status` (unknown until its metadata arrived). */
function memberVersion(m: MemberView): Pick<StatusMember, "version" | "versions"> {
  const v = m.versions;
  if (!v) return {};
  return {
    version: v.build,
    versions: { protocol: { ...v.protocol }, metadata: { ...v.metadata } },
  };
}

/** This node's release and versions: the ranges of this build, speaking what the gossip thread negotiated. */
export function ownVersionOf(
  version: string,
  negotiated: { readonly protocolVersion: number; readonly metadataVersion: number },
): Pick<StatusMember, "version" | "versions"> {
  return {
    version,
    versions: {
      protocol: { ...PROTOCOL_RANGE, current: negotiated.protocolVersion || PROTOCOL_RANGE.max },
      metadata: { ...METADATA_RANGE, current: negotiated.metadataVersion || METADATA_RANGE.max },
    },
  };
}
