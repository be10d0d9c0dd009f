// This node's allocation table as gossiped (each entry with its `since`), its state file, and allocation
// agreement: when a live peer holds a different table, every table is merged (per service the earliest
// allocation wins) and the allocator re-runs with the merged table as `previous` (lib/alloc/agreement.ts).
import { join } from "node:path";
import {
  allocationDigest,
  contestedWinners,
  entriesFor,
  entryIndex,
  mergeAllocations,
  type AllocationEntry,
} from "../alloc/agreement";
import { StateFileWriter } from "../alloc/state-file";
import type { AllocationResult, AllocationState, Assignment } from "../alloc/types";
import { isLive, serviceIndex } from "../election/election";
import type { MemberView } from "../gossip/memberlist";
import { sameList } from "../plan/compare";
import { activate, inheritElectionHashes, type ActiveConfig } from "./config-state";
import type { Logger } from "./log";

export class AllocationSync {
  entries: AllocationEntry[] = [];
  digest = "";
  /** Peers' table digests last merged, so an unchanged view is not merged again. */
  private mergedPeersKey = "";
  /**
   * The digest of this node's table before its last load changed it: a peer still on it has not loaded the
   * same edit yet (or its record saying so has not come).
   */
  private digestBeforeLoad: string | undefined;
  /** How many times the peers' tables were compared entry by entry (tests read it). */
  comparisons = 0;

  private readonly stateFile: StateFileWriter;

  constructor(
    stateDir: string,
    private readonly log: Logger,
    /** This release, recorded in the state file. */
    version: string,
  ) {
    const path = join(stateDir, "allocations.json");
    this.stateFile = new StateFileWriter(path, version, (error) =>
      this.log.log("warn", "stateFile", `cannot write ${path}: ${error.message}`),
    );
  }

  /** Settles once the state file holds the last allocation (a graceful stop waits for it). */
  flush(): Promise<void> {
    return this.stateFile.flush();
  }

  /** After a (re)load: the table for `active`, keeping the `since` of entries already known. */
  loaded(active: ActiveConfig): void {
    const before = this.digest;
    this.refresh(active, entryIndex(this.entries));
    // The first load has no table before it.
    if (before !== "" && this.digest !== before) this.digestBeforeLoad = before;
    this.mergedPeersKey = "";
    this.persist(active);
  }

  /**
   * Merges live peers' tables when one differs. Returns the config to run when that changed this node's
   * table, with the peers merged; undefined otherwise.
   */
  adoptPeers(
    active: ActiveConfig,
    self: string,
    members: readonly MemberView[],
    /**
     * Whether to settle `since` too. Nodes that started apart have a `since` of their own for every entry,
     * and the first reload after start-up made every table differ: settling then took all 10,000 entries
     * (a new table to encode, publish and decode everywhere) while the new VIP waited for its election. In
     * a burst (false) only other IPs or pools count; the next quiet pass settles `since`.
     */
    settleSince = true,
  ): { active: ActiveConfig; mergedWith: readonly string[] } | undefined {
    const peers = members
      .filter((m) => m.name !== self && isLive(m.state))
      .flatMap((m) => (m.metadata?.allocation ? [{ node: m.name, table: m.metadata.allocation }] : []));
    // In a burst, a peer still on the table this node had before its last load is skipped: that table was
    // the allocator's `previous` in this node's own load, so merging it changes no IP or pool (only a
    // `since`, which the next quiet pass settles). Comparing 10,000 entries per table for it was 20-95 ms of
    // the reload's first step, while the new VIP waited for its election (issue 14, round 25).
    const behind = settleSince ? undefined : this.digestBeforeLoad;
    const differing = peers.filter((p) => p.table.digest !== this.digest && p.table.digest !== behind);
    if (differing.length === 0) return undefined;
    const key = `${settleSince}|${this.digest}|${differing.map((p) => `${p.node}:${p.table.digest}`).join(",")}`;
    if (key === this.mergedPeersKey) return undefined;
    this.mergedPeersKey = key;
    const self_ = { node: self, entries: this.entries };
    const tables = peers.map((p) => ({ node: p.node, entries: p.table.entries }));
    this.comparisons++;
    const contested = contestedWinners(self_, tables, !settleSince);
    if (keepsAllocation(active, contested)) {
      // The usual case after a reload: the peers only lack what this node has (they have not loaded the
      // same edit yet) or agree, so the allocator would give back this very allocation. Re-running it (and
      // replacing the config, whose elections then start cold) cost ~100 ms of main thread at 1,000
      // services on every node at every reload; the full merge alone ~0.5 s at 10,000 on a loaded host.
      // Only an earlier `since` can be new, and the table's digest (IPs and pools) stays.
      // The same table while no `since` moves (its identity keys the caches of its index and JSON).
      if (contested.size === 0) return undefined;
      let moved = false;
      const entries = this.entries.map((e) => {
        const winner = contested.get(e.service);
        if (winner === undefined || winner.since === e.since) return e;
        moved = true;
        return { ...e, since: winner.since };
      });
      if (moved) this.entries = entries;
      return undefined;
    }
    const merged = mergeAllocations([
      { node: self, entries: this.entries },
      ...peers.map((p) => ({ node: p.node, entries: p.table.entries })),
    ]);
    const outcome = activate(active.load, merged.state, active.loadedAt, active);
    if (!outcome.ok) return undefined;
    inheritElectionHashes(active, outcome.active);
    const before = this.digest;
    this.refresh(outcome.active, merged.entries);
    // The config still changes (a re-run allocator), but with the same table nothing else needs redoing.
    if (this.digest === before) return { active: outcome.active, mergedWith: [] };
    this.mergedPeersKey = "";
    this.persist(outcome.active);
    return { active: outcome.active, mergedWith: differing.map((p) => p.node) };
  }

  /**
   * Logs the services whose IPs are new or changed since `before`: the allocation in force on a reload, the
   * state file's table at start-up (a restart on an unchanged allocation logs none of its services, as
   * MetalLB's controller emits IPAllocated only when it assigns; a first start logs every one).
   */
  logChanges(
    active: ActiveConfig,
    before?: AllocationState,
    beforeAssignments?: readonly Assignment[],
  ): void {
    // Both lists are in service order: an assignment that is the very object it was is skipped without
    // a lookup in the state's 10,000-key record.
    let next = 0;
    for (const a of active.allocation.assignments) {
      if (beforeAssignments !== undefined) {
        while (next < beforeAssignments.length && (beforeAssignments[next] as Assignment).service < a.service)
          next++;
        if (beforeAssignments[next] === a) continue;
      }
      const ips = before?.assignments[a.service]?.ips;
      if (ips !== undefined && sameList(ips, a.ips)) continue;
      this.log.log("info", "IPAllocated", `Assigned IP [${a.ips.map((ip) => `"${ip}"`).join(" ")}]`, {
        service: a.service,
        pool: a.pool,
      });
    }
    for (const e of active.allocation.errors) {
      this.log.log("warn", "AllocationFailed", `Failed to allocate IP for "${e.service}": ${e.message}`, {
        service: e.service,
      });
    }
  }

  private refresh(active: ActiveConfig, known: ReadonlyMap<string, AllocationEntry>): void {
    this.entries = entriesFor(active.allocation.assignments, known, Date.now());
    this.digest = allocationDigest(this.entries);
  }

  private persist(active: ActiveConfig): void {
    this.stateFile.write(active.allocation.state);
  }
}

/**
 * Whether the merged table changes nothing for this node's config: every merged entry of a service the
 * config defines gives exactly the IPs and pool this node allocated it. The allocator, fed that table as
 * `previous`, keeps each of them (they passed its checks in this very order) and allocates the rest as
 * before, so its result would be the current allocation.
 */
export function keepsAllocation(active: ActiveConfig, merged: ReadonlyMap<string, AllocationEntry>): boolean {
  if (merged.size === 0) return true;
  const mine = assignmentIndex(active.allocation);
  const configured = serviceIndex(active.config);
  for (const [service, entry] of merged) {
    if (!configured.has(service)) continue;
    const own = mine.get(service);
    if (own === undefined || own.pool !== entry.pool || !sameList(own.ips, entry.ips)) return false;
  }
  return true;
}

/** Service key -> assignment, built once per allocation (allocations are immutable). */
const assignmentIndexes = new WeakMap<AllocationResult, ReadonlyMap<string, Assignment>>();
function assignmentIndex(allocation: AllocationResult): ReadonlyMap<string, Assignment> {
  let index = assignmentIndexes.get(allocation);
  if (!index) {
    const built = new Map<string, Assignment>();
    for (const a of allocation.assignments) built.set(a.service, a);
    assignmentIndexes.set(allocation, built);
    index = built;
  }
  return index;
}
