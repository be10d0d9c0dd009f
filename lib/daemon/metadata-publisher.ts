// What this node gossips about itself (labels, manifests digest, per-VIP eligibility, allocation table,
// held and recently released groups, MACs), published only when it changed. The comparison runs every
// pass without building the record: at 10,000 VIPs the record holds 10,000-entry lists and an IP-keyed
// object, and building it each second only to find it unchanged filled the old generation.
import type { AllocationEntry } from "../alloc/agreement";
import type { VipGroup } from "../election/election";
import type { MemberMetadata } from "../gossip/metadata";
import { localReport, type LocalInputs } from "../plan/eligibility";
import type { WithheldEligibility } from "../plan/types";
import { sameList, sameRecord } from "../plan/compare";

/** Everything the record is made of, as the daemon has it now. */
export interface MetadataSource {
  readonly labels: Readonly<Record<string, string>>;
  readonly manifestDigest: string;
  readonly groups: readonly VipGroup[];
  /** This node's own eligibility inputs (links, conflicts, health). */
  readonly local: LocalInputs;
  readonly allocation: { readonly digest: string; readonly entries: readonly AllocationEntry[] };
  /** Held election IPs, sorted; the same array while unchanged (compared by identity). */
  readonly owned: readonly string[];
  /** Recently released election IPs, sorted. */
  readonly released: readonly string[];
  /** This node's MACs, without the all-zero one, sorted. */
  readonly macs: readonly string[];
  /** Locally eligible IPs to report as not eligible for now (the plan's withheld); none when absent. */
  readonly withheld?: WithheldEligibility;
}

/** Why a locally eligible `ip` is reported as not eligible, or undefined when it is reported eligible. */
function withheldReason(src: MetadataSource, ip: string): string | undefined {
  const w = src.withheld;
  return w === undefined ? undefined : (w.all ?? (w.ips.size > 0 ? w.ips.get(ip) : undefined));
}

export function buildMetadata(src: MetadataSource): MemberMetadata {
  const eligible: string[] = [];
  const ineligible: { vip: string; reason: string }[] = [];
  const interfaces: Record<string, string> = {};
  for (const group of src.groups) {
    for (const ip of group.ips) {
      const report = localReport(src.local, ip);
      const withheld = report.eligible ? withheldReason(src, ip) : undefined;
      if (withheld !== undefined) ineligible.push({ vip: ip, reason: withheld });
      else if (report.eligible) {
        eligible.push(ip);
        if (report.interface) interfaces[ip] = report.interface;
      } else ineligible.push({ vip: ip, reason: report.reason ?? "not eligible" });
    }
  }
  return {
    labels: src.labels,
    manifestDigest: src.manifestDigest,
    eligibility: { eligible: eligible.sort(), ineligible, interfaces },
    allocation: src.allocation,
    owned: src.owned,
    macs: src.macs,
    ...(src.released.length > 0 ? { released: src.released } : {}),
  };
}

/**
 * How often a record whose only change is the held list goes out. Each change bumps the incarnation and
 * every peer fetches and decodes the record: at 10,000 VIPs ~125 KB in ~130 chunks and ~25 ms of decoding,
 * and during start-up the held list changed with every batch of adds. Nothing waits on it: a new owner is
 * known to every node from the election, `released` (hand-overs) and eligibility still go out at once, and
 * the held list only serves nodes that join later and the double-claim check after a partition heals.
 */
export const HELD_LIST_INTERVAL_MS = 500;

export interface PublisherOptions {
  /** Minimum ms between records that differ only in the held list; 0 = no limit. */
  readonly heldListIntervalMs?: number;
}

export class MetadataPublisher {
  private last: MemberMetadata | undefined;
  /** last's eligible IPs as a set, built on the first comparison after each publish. */
  private lastEligible: Set<string> | undefined;
  private publishedAt = -Infinity;
  private deferredUntil: number | undefined;
  private readonly heldListIntervalMs: number;

  constructor(
    private readonly publish: (meta: MemberMetadata) => void,
    options: PublisherOptions = {},
  ) {
    this.heldListIntervalMs = options.heldListIntervalMs ?? 0;
  }

  /** When a held-list change put off by the interval is due (the caller runs a pass then), if one is. */
  get dueAt(): number | undefined {
    return this.deferredUntil;
  }

  /** The record last published (undefined before the first). */
  current(): MemberMetadata | undefined {
    return this.last;
  }

  /**
   * Publishes the record `src` describes unless it equals the last one, or differs only in the held list
   * within heldListIntervalMs of the last publication (then dueAt says when); true when it published.
   * `now`: monotonic ms (only compared with earlier `now`s).
   */
  update(src: MetadataSource, now = 0): boolean {
    const last = this.last;
    this.deferredUntil = undefined;
    if (
      last !== undefined &&
      last.manifestDigest === src.manifestDigest &&
      last.labels === src.labels &&
      sameAllocation(last.allocation, src.allocation) &&
      sameList(last.released ?? [], src.released) &&
      sameList(last.macs ?? [], src.macs) &&
      this.eligibilityUnchanged(last, src)
    ) {
      if (last.owned === src.owned || sameList(last.owned ?? [], src.owned)) return false;
      const due = this.publishedAt + this.heldListIntervalMs;
      if (now < due) {
        this.deferredUntil = due;
        return false;
      }
    }
    const meta = buildMetadata(src);
    // Compared field by field, the allocation table by its digest. A JSON key of the whole record was
    // ~700 KB at 10,000 VIPs: a large-object-space string every pass, only freed by a full GC.
    if (last !== undefined && sameMetadata(meta, last)) return false;
    this.last = meta;
    this.lastEligible = undefined;
    this.publishedAt = now;
    this.publish(meta);
    return true;
  }

  /** Whether buildMetadata(src) would give last's eligibility, checked without building it. */
  private eligibilityUnchanged(last: MemberMetadata, src: MetadataSource): boolean {
    const { eligible, ineligible, interfaces = {} } = last.eligibility;
    this.lastEligible ??= new Set(eligible);
    const local = src.local;
    let eligibleCount = 0;
    let ineligibleIndex = 0;
    for (const group of src.groups) {
      for (const ip of group.ips) {
        const choice = local.links.choice(ip);
        // The common case without allocating a report: eligible, no conflict, no health check, no add failures.
        const simple =
          choice?.eligible === true &&
          !local.conflicts.foreign.has(ip) &&
          !local.health.checked(ip) &&
          (local.hold === undefined || local.hold.size === 0);
        const report = simple ? undefined : localReport(local, ip);
        const withheld = simple || report?.eligible ? withheldReason(src, ip) : undefined;
        if (withheld !== undefined) {
          const x = ineligible[ineligibleIndex++];
          if (x?.vip !== ip || x.reason !== withheld) return false;
        } else if (simple || report?.eligible) {
          eligibleCount++;
          const itf = simple ? choice.interfaces[0] : report?.interface;
          if (!this.lastEligible.has(ip) || (itf ? interfaces[ip] !== itf : interfaces[ip] !== undefined))
            return false;
        } else {
          const x = ineligible[ineligibleIndex++];
          if (x?.vip !== ip || x.reason !== (report?.reason ?? "not eligible")) return false;
        }
      }
    }
    return eligibleCount === eligible.length && ineligibleIndex === ineligible.length;
  }
}

/** What the publisher would gossip is unchanged (the allocation table by digest). */
export function sameMetadata(a: MemberMetadata, b: MemberMetadata): boolean {
  return (
    a.manifestDigest === b.manifestDigest &&
    sameRecord(a.labels, b.labels) &&
    sameAllocation(a.allocation, b.allocation) &&
    sameList(a.eligibility.eligible, b.eligibility.eligible) &&
    a.eligibility.ineligible.length === b.eligibility.ineligible.length &&
    a.eligibility.ineligible.every(
      (x, i) =>
        x.vip === b.eligibility.ineligible[i]?.vip && x.reason === b.eligibility.ineligible[i]?.reason,
    ) &&
    sameRecord(a.eligibility.interfaces ?? {}, b.eligibility.interfaces ?? {}) &&
    sameList(a.owned ?? [], b.owned ?? []) &&
    sameList(a.macs ?? [], b.macs ?? []) &&
    sameList(a.released ?? [], b.released ?? [])
  );
}

/**
 * The same allocation table, `since` included. The digest leaves `since` out (equal tables compare equal
 * whatever their history), and agreement settles `since` after the IPs: a table whose only change was the
 * agreed (earlier) `since` was not published, so peers kept the later one for this node, and their decoded
 * copy of its entries could not be shared with their own (~1 MB per peer at 10,000 services).
 */
export function sameAllocation(a: MemberMetadata["allocation"], b: MemberMetadata["allocation"]): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.digest !== b.digest) return false;
  if (a.entries === b.entries) return true;
  if (a.entries.length !== b.entries.length) return false;
  for (let i = 0; i < a.entries.length; i++) if (a.entries[i]?.since !== b.entries[i]?.since) return false;
  return true;
}

/** The earlier of two optional times (undefined = never). */
export function earliest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}
