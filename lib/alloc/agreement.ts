// Allocation agreement across nodes. Every node runs the same allocator on the same manifests, but their
// histories can differ (a node was down while a service was added, one node's file was edited). Each member
// gossips its table; the tables are merged by one deterministic rule and fed back to the allocator as
// `previous`, so members on the same manifests converge on the same IPs.
//
// Rule: per service, the earliest allocation wins (`since`, then the lower node name on a tie). The
// allocator then re-validates the merged table against the local config: on a clash of IPs the earlier
// service key keeps the IP and the other is reallocated, exactly as for a node's own previous state.
import { createHash } from "node:crypto";
import type { AllocationState, Assignment } from "./types";
import { compareText } from "../order";

export interface AllocationEntry {
  readonly service: string;
  readonly ips: readonly string[];
  readonly pool: string;
  /** ms since the epoch when this allocation was first made. */
  readonly since: number;
}

export interface MemberTable {
  readonly node: string;
  readonly entries: readonly AllocationEntry[];
}

type Winners = Map<string, { entry: AllocationEntry; node: string }>;

/** Keeps `entry` as its service's winner if it is earlier: the oldest `since`, then the lowest node name. */
function offer(winners: Winners, entry: AllocationEntry, node: string): void {
  const held = winners.get(entry.service);
  if (!held || entry.since < held.entry.since || (entry.since === held.entry.since && node < held.node))
    winners.set(entry.service, { entry, node });
}

/** The merged table, as the allocator's `previous`, plus the winning entries (to keep their `since`). */
export function mergeAllocations(tables: readonly MemberTable[]): {
  state: AllocationState;
  entries: Map<string, AllocationEntry>;
} {
  const winners: Winners = new Map();
  for (const table of tables) {
    for (const entry of table.entries) {
      offer(winners, entry, table.node);
    }
  }
  const keys = [...winners.keys()].sort();
  const assignments: Record<string, { ips: readonly string[]; pool: string }> = {};
  const entries = new Map<string, AllocationEntry>();
  for (const key of keys) {
    const { entry } = winners.get(key)!;
    assignments[key] = { ips: entry.ips, pool: entry.pool };
    entries.set(key, entry);
  }
  return { state: { version: 1, assignments }, entries };
}

/**
 * What mergeAllocations([self, ...peers]) decides for the services where it can differ from `self`: every
 * service a peer lists with other IPs or pool, an earlier `since`, or that `self` lacks, mapped to its
 * winning entry by the same rule. For every other service the merge's winner says exactly what `self`'s own
 * entry says. A reload makes every table differ from the others for a while, at one service out of
 * thousands: this finds that one with a lookup per entry, where the full merge rebuilt every table (~0.5 s
 * of a loaded host's main thread per merge at 10,000 services).
 */
export function contestedWinners(
  self: MemberTable,
  peers: readonly MemberTable[],
  /**
   * Only services a peer lists with other IPs or pool, or that `self` lacks: a peer's earlier `since` for
   * the same IPs is left alone (for every other service the merge's winner has `self`'s IPs and pool).
   */
  ipsOnly = false,
): Map<string, AllocationEntry> {
  const mine = entryIndex(self.entries);
  const contested = new Set<string>();
  for (const table of peers) {
    if (table.entries === self.entries) continue;
    for (const entry of table.entries) {
      const own = mine.get(entry.service);
      // The very object: a peer's record decoded with ours shares every equal entry (metadata.ts).
      if (own === entry) continue;
      if (
        own &&
        (ipsOnly || own.since <= entry.since) &&
        own.pool === entry.pool &&
        sameIps(own.ips, entry.ips)
      )
        continue;
      contested.add(entry.service);
    }
  }
  if (contested.size === 0) return new Map();
  const winners: Winners = new Map();
  for (const service of contested) {
    const own = mine.get(service);
    if (own) offer(winners, own, self.node);
  }
  for (const table of peers) {
    for (const entry of table.entries) {
      if (!contested.has(entry.service)) continue;
      offer(winners, entry, table.node);
    }
  }
  const out = new Map<string, AllocationEntry>();
  for (const [service, { entry }] of winners) out.set(service, entry);
  return out;
}

/**
 * Service -> entry of a table, built once per table (tables are immutable): every pass merges the peers'
 * tables against ours while they differ, which after a reload is every pass until all nodes loaded it.
 */
const entryIndexes = new WeakMap<readonly AllocationEntry[], ReadonlyMap<string, AllocationEntry>>();
export function entryIndex(entries: readonly AllocationEntry[]): ReadonlyMap<string, AllocationEntry> {
  let index = entryIndexes.get(entries);
  if (index === undefined) {
    const built = new Map<string, AllocationEntry>();
    for (const e of entries) built.set(e.service, e);
    entryIndexes.set(entries, built);
    index = built;
  }
  return index;
}

/** Entries for a fresh allocation: kept allocations keep their `since`, new or moved ones start now. */
export function entriesFor(
  assignments: readonly Assignment[],
  known: ReadonlyMap<string, AllocationEntry>,
  now: number,
): AllocationEntry[] {
  // An unchanged entry is the earlier object itself: a reload of 10,000 services otherwise rebuilt all of
  // them (and two joined texts each to compare) for the one that changed.
  return assignments.map((a) => {
    const before = known.get(a.service);
    if (before && before.pool === a.pool && sameIps(before.ips, a.ips)) return before;
    return { service: a.service, ips: a.ips, pool: a.pool, since: now };
  });
}

function sameIps(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Digest of who holds what (not when), so equal allocations compare equal whatever their history. */
export function allocationDigest(entries: readonly AllocationEntry[]): string {
  // Tables come in service order (the allocator's): sorted again only when not.
  let sorted = true;
  for (let i = 1; i < entries.length && sorted; i++)
    sorted =
      compareText((entries[i - 1] as AllocationEntry).service, (entries[i] as AllocationEntry).service) <= 0;
  const ordered = sorted ? entries : [...entries].sort((a, b) => compareText(a.service, b.service));
  const canonical = ordered.map(canonicalEntry).join("\n");
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}

/** An entry's line of the digest's text. Not kept per entry: ~1 MB at 10,000 services, for ~5 ms a reload. */
function canonicalEntry(e: AllocationEntry): string {
  return `${e.service}=${e.ips.join(",")}@${e.pool}`;
}
