// Pure allocation: which service gets which IP. Follows MetalLB's controller (decision order, pool
// choice, sharing, dual-stack, error texts) with two deliberate changes:
// - Deterministic: services are processed in service-key order and pools in name order, so the input
//   order of files and objects never matters. Where MetalLB's choice among pools is random (Go map
//   iteration over unpinned pools, unstable sort among pinned pools of equal priority), vipd takes the
//   pool whose name sorts first.
// - Stable: every previous assignment the config still allows is kept before any new address is
//   handed out, so adding or removing other services never moves a service (MetalLB #686, #2723).
//   MetalLB only approximates this by processing services with a status first on a full resync.
import { matchesSelector } from "../config/selectors";
import type { AddressPool, Diagnostic, ManifestConfig, Service } from "../config/types";
import { formatIp, parseIp, type Family, type Ip } from "../ip";
import { quoteGo, quoteGoList } from "./go-format";
import { IpTable } from "./ip-table";
import {
  freeCandidates,
  poolCapacity,
  poolOffers,
  scanPool,
  type PoolCandidates,
  type ScannedPool,
} from "./pool-scan";
import { familyOfIps, orderByPrimary, toServiceRequest, type ServiceRequest } from "./service-request";
import type { AllocationError, AllocationResult, AllocationState, Assignment, PoolUsage } from "./types";

interface Placement {
  readonly pool: string;
  ips: Ip[];
}

type Outcome = { readonly placement: Placement } | { readonly error: string };

export function allocate(config: ManifestConfig, previous: AllocationState | undefined): AllocationResult {
  const errors: AllocationError[] = [];
  const warnings: Diagnostic[] = [];

  const byKey = new Map<string, ServiceRequest[]>();
  for (const svc of config.services) {
    const list = byKey.get(svc.key);
    if (list) list.push(toServiceRequest(svc));
    else byKey.set(svc.key, [toServiceRequest(svc)]);
  }
  const requests: ServiceRequest[] = [];
  for (const key of [...byKey.keys()].sort(compareStrings)) {
    const copies = byKey.get(key) as ServiceRequest[];
    const [only] = copies;
    if (copies.length === 1 && only) requests.push(only);
    // Which copy wins would depend on file order; refuse them all instead.
    else for (const r of copies) errors.push(errorFor(r, `duplicate definition of service ${quoteGo(key)}`));
  }

  const resumed = errors.length === 0 && previous ? resume(config.pools, requests, previous) : undefined;
  if (resumed) {
    allocatorRuns.resumed++;
    allocateNewOnes(resumed, newOnesInOrder(requests, resumed.placements), errors);
    return keep(resumed.result(requests, errors, warnings), resumed, requests, resumed.requestsByService);
  }
  allocatorRuns.full++;
  const run = new AllocationRun(config.pools);

  // Phase 1: re-validate and keep every previous assignment still allowed, earlier keys winning clashes.
  // A Service's status.loadBalancer.ingress (pasted from a cluster) is its current allocation, as MetalLB's
  // controller treats it, and wins over stateDir: it is what the operator gave, so a migration keeps its IPs.
  for (const request of requests) {
    const ingress = request.svc.loadBalancerIngress;
    const prior =
      ingress !== undefined && ingress.length > 0
        ? { ips: ingress }
        : previous && Object.hasOwn(previous.assignments, request.service)
          ? previous.assignments[request.service]
          : undefined;
    if (!prior || !Array.isArray(prior.ips)) continue;
    const cleared = run.keepPrevious(request, prior.ips);
    if (cleared !== undefined) {
      warnings.push({
        severity: "warning",
        message: `current IP for ${quoteGo(request.service)} not allowed by config, will attempt for new IP assignment: ${cleared}`,
        source: request.svc.source,
        object: `Service/${request.service}`,
      });
    }
  }
  // Phase 2: PreferDualStack services kept with one address try to gain the other family, as MetalLB's
  // controller does on every reconcile; still ahead of new services, which must not take it first.
  for (const request of requests) run.addMissingFamily(request);
  // Phase 3: everyone else in key order, explicit IP requests first: otherwise a new auto-assigned
  // service sorting earlier could take the very address another new service asks for (MetalLB: a race).
  for (const request of explicitFirst(requests)) {
    if (!run.placements.has(request.service) && request.requestError === undefined) {
      const outcome = run.allocateNew(request);
      if ("error" in outcome) errors.push(errorFor(request, outcome.error));
    }
    // A bad request keeps a still-valid previous IP (as MetalLB keeps the status) but is reported.
    if (request.requestError !== undefined) errors.push(errorFor(request, request.requestError));
  }

  return keep(run.result(requests, errors, warnings), run, requests);
}

const explicitFirst = (requests: readonly ServiceRequest[]): ServiceRequest[] => [
  ...requests.filter((r) => r.requested.length > 0),
  ...requests.filter((r) => r.requested.length === 0),
];

/**
 * How many allocate() calls resumed a kept run and how many ran in full, and how many allocateEdit() calls
 * patched one (tests check the fast paths run).
 */
export const allocatorRuns = { resumed: 0, full: 0, edited: 0 };

/**
 * A finished run, kept per result state for the next reload. A reload that only adds or removes services
 * gives allocate() that very state as `previous` (the daemon's config in force); re-validating and
 * re-committing every kept IP (parse, pool lookup, sharing check, table entry) was most of the allocator's
 * cost there, ~20-40 ms of a 1,000-service reload's main thread, spent while the new VIP waits for its
 * election. Kept only for runs whose every service is plain (no sharing key, one family, no pasted status,
 * no error): then phases 1 and 2 of a full run over the same state keep exactly these placements and add
 * none, and no later claim can touch a kept table entry (only sharing joins an existing address). A state
 * read from disk or merged from peers is another object and runs in full.
 */
interface KeptRun {
  readonly pools: readonly AddressPool[];
  readonly table: IpTable;
  readonly placements: ReadonlyMap<string, Placement>;
  readonly requests: ReadonlyMap<string, ServiceRequest>;
}
const keptRuns = new WeakMap<AllocationState, KeptRun>();
/**
 * A placement's entries in the result, made once: a resumed run hands out the kept placements again, and
 * formatting 1,000 IPv6 addresses anew was a good part of what was left of its cost. A placement is final
 * once result() reads it (addMissingFamily runs before).
 */
const formattedPlacements = new WeakMap<
  Placement,
  { readonly assignment: Assignment; readonly entry: { ips: string[]; pool: string } }
>();

/** A placement's assignment and state entry, formatted once (see formattedPlacements). */
function formattedPlacement(
  service: string,
  placement: Placement,
): { readonly assignment: Assignment; readonly entry: { ips: string[]; pool: string } } {
  let formatted = formattedPlacements.get(placement);
  if (formatted === undefined) {
    const ips = placement.ips.map(formatIp);
    formatted = { assignment: { service, ips, pool: placement.pool }, entry: { ips, pool: placement.pool } };
    formattedPlacements.set(placement, formatted);
  }
  return formatted;
}

function keep(
  result: AllocationResult,
  run: AllocationRun,
  requests: readonly ServiceRequest[],
  /** A resumed run's requests by service, made from the kept run's (resume() checked each is plain). */
  resumedRequests?: ReadonlyMap<string, ServiceRequest>,
): AllocationResult {
  if (result.errors.length > 0 || result.warnings.length > 0) return result;
  if (resumedRequests !== undefined || requests.every(plainRequest)) {
    let byService = resumedRequests;
    if (byService === undefined) {
      const built = new Map<string, ServiceRequest>();
      for (const r of requests) built.set(r.service, r);
      byService = built;
    }
    keptRuns.set(result.state, {
      pools: run.poolList,
      table: run.table,
      placements: run.placements,
      requests: byService,
    });
  }
  return result;
}

function plainRequest(request: ServiceRequest): boolean {
  return (
    request.key.sharing === "" &&
    request.family !== "dual" &&
    (request.svc.loadBalancerIngress === undefined || request.svc.loadBalancerIngress.length === 0)
  );
}

/**
 * A run holding the kept run's placements of the services still configured, when `previous` is the state
 * of a kept run, the pools are the same and every service the kept run placed is either gone or the very
 * request it was (an edited service runs in full: its previous IP must be re-validated). Undefined otherwise.
 */
function resume(
  pools: readonly AddressPool[],
  requests: readonly ServiceRequest[],
  previous: AllocationState,
): (AllocationRun & { readonly requestsByService: ReadonlyMap<string, ServiceRequest> }) | undefined {
  const kept = keptRuns.get(previous);
  if (!kept || !samePools(kept.pools, pools)) return undefined;
  let stillConfigured = 0;
  const added: ServiceRequest[] = [];
  for (const request of requests) {
    if (!plainRequest(request)) return undefined;
    const before = kept.requests.get(request.service);
    if (before === undefined) {
      added.push(request);
      continue;
    }
    if (before !== request) return undefined;
    stillConfigured++;
  }
  // The requests by service for the run kept after this one: the kept run's, copied whole (rebuilding
  // 10,000 entries was ~100 ms of a profiled reload), minus the removed, plus the new.
  const requestsByService = new Map(kept.requests);
  for (const request of added) requestsByService.set(request.service, request);
  // Copied whole (a builtin copy, much cheaper than entry by entry at 10,000), then the removed taken out.
  const placements = new Map(kept.placements);
  const released: Ip[] = [];
  if (stillConfigured < kept.requests.size) {
    const configured = new Set(requests.map((r) => r.service));
    for (const [service, placement] of kept.placements)
      if (!configured.has(service)) {
        placements.delete(service);
        released.push(...placement.ips);
      }
    for (const service of kept.requests.keys())
      if (!configured.has(service)) requestsByService.delete(service);
  }
  return Object.assign(new AllocationRun(pools, kept.table.without(released), placements), {
    requestsByService: requestsByService as ReadonlyMap<string, ServiceRequest>,
  });
}

/** Phase 3 of a resumed run: the services without a placement, explicit IP requests first. */
function newOnesInOrder(
  requests: readonly ServiceRequest[],
  placed: ReadonlyMap<string, Placement>,
): ServiceRequest[] {
  return explicitFirst(requests).filter((r) => !placed.has(r.service));
}

/** Phase 3 for new services, in order: a bad request is reported (as a full run reports it), not placed. */
function allocateNewOnes(
  run: AllocationRun,
  requests: readonly ServiceRequest[],
  errors: AllocationError[],
): void {
  for (const request of requests) {
    if (request.requestError !== undefined) {
      errors.push(errorFor(request, request.requestError));
      continue;
    }
    const outcome = run.allocateNew(request);
    if ("error" in outcome) errors.push(errorFor(request, outcome.error));
  }
}

/** The services an edit added to a config and the keys of those it removed, every other one unchanged. */
export interface ServiceEdit {
  readonly added: readonly Service[];
  readonly removed: readonly string[];
}

/**
 * allocate(config, before.state) for a config that differs from `before`'s only by `edit`, where `before` is a
 * kept run's result: the same result, patched from `before` instead of rebuilt. A resumed run still built,
 * sorted and formatted a request, an assignment and a state entry per service, and counted the pools' use
 * over the whole table: at 10,000 services ~270 ms of a profiled reload's main thread on the lab's busy
 * cores, for one service added. Here the work is the builtin copies of the kept maps and one pass over the
 * assignments, plus the allocation of what was added. Undefined when the fast path does not apply (no kept
 * run, other pools, an added service that is not plain or whose key is still configured, a removed one that
 * was not); the caller then runs allocate().
 */
export function allocateEdit(
  config: ManifestConfig,
  before: AllocationResult,
  edit: ServiceEdit,
): AllocationResult | undefined {
  const kept = keptRuns.get(before.state);
  if (!kept || !samePools(kept.pools, config.pools)) return undefined;
  const added = edit.added.map(toServiceRequest).sort((a, b) => compareStrings(a.service, b.service));
  for (const request of added)
    if (!plainRequest(request) || kept.requests.has(request.service)) return undefined;
  const requestsByService = new Map(kept.requests);
  const placements = new Map(kept.placements);
  const released: Ip[] = [];
  const removed = new Set<string>();
  for (const service of edit.removed) {
    if (!requestsByService.delete(service)) return undefined;
    removed.add(service);
    const placement = placements.get(service);
    if (placement === undefined) continue;
    placements.delete(service);
    released.push(...placement.ips);
  }
  for (const request of added) {
    if (requestsByService.has(request.service)) return undefined; // added twice
    requestsByService.set(request.service, request);
  }
  allocatorRuns.edited++;
  const run = new AllocationRun(config.pools, kept.table.without(released), placements);
  const errors: AllocationError[] = [];
  allocateNewOnes(run, explicitFirst(added), errors);
  const result = run.patch(before, removed, added, errors);
  return keep(result, run, [], requestsByService);
}

/** The same pools as far as allocation goes (their labels and sources do not matter to it). */
function samePools(a: readonly AddressPool[], b: readonly AddressPool[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  const byName = new Map(a.map((p) => [p.name, p]));
  return b.every((pool) => {
    const other = byName.get(pool.name);
    return (
      other !== undefined &&
      other.autoAssign === pool.autoAssign &&
      other.avoidBuggyIPs === pool.avoidBuggyIPs &&
      JSON.stringify(other.serviceAllocation ?? null) === JSON.stringify(pool.serviceAllocation ?? null) &&
      other.cidrs.length === pool.cidrs.length &&
      other.cidrs.every((c, i) => {
        const d = pool.cidrs[i];
        return d !== undefined && c.family === d.family && c.network === d.network && c.prefix === d.prefix;
      })
    );
  });
}

class AllocationRun {
  /** In name order: that order breaks every tie. */
  private readonly pools: ScannedPool[];
  private readonly poolsByName = new Map<string, ScannedPool>();
  private readonly unpinned: ScannedPool[];
  private readonly pinned: ScannedPool[];

  constructor(
    readonly poolList: readonly AddressPool[],
    readonly table: IpTable = new IpTable(),
    readonly placements = new Map<string, Placement>(),
  ) {
    this.pools = [...poolList].sort((a, b) => compareStrings(a.name, b.name)).map(scanPool);
    for (const p of this.pools) if (!this.poolsByName.has(p.pool.name)) this.poolsByName.set(p.pool.name, p);
    this.unpinned = this.pools.filter((p) => p.pool.autoAssign && !p.pool.serviceAllocation);
    // MetalLB: priority > 0 ascending, then priority 0. Its sort is unstable, so equal priorities come
    // out in random order; this sort is stable over name order instead.
    this.pinned = this.pools
      .filter((p) => p.pool.autoAssign && p.pool.serviceAllocation)
      .sort((a, b) => comparePriority(a.pool, b.pool));
  }

  /** Keeps the previous IPs if the config still allows them; otherwise returns why not, or nothing when the operator asked for the move. */
  keepPrevious(request: ServiceRequest, previousIps: readonly string[]): string | undefined {
    const ips: Ip[] = [];
    for (const text of previousIps) {
      const ip = typeof text === "string" ? parseIp(text) : undefined;
      if (!ip) return `invalid previous address ${quoteGo(String(text))}`;
      ips.push(ip);
    }
    const found = familyOfIps(ips);
    if (found.error !== undefined) return found.error;
    const dualAcceptsSingle = request.family === "dual" && request.policy === "PreferDualStack";
    if (found.family !== request.family && !dualAcceptsSingle) {
      return `IP family of ${quoteGoList(ips.map(formatIp))} does not match the ipFamily of the service`;
    }
    const checked = this.check(request, ips);
    if ("error" in checked) return checked.error;
    // A changed address-pool annotation or a changed IP request is the operator asking for a move:
    // MetalLB reallocates without an event, and so does vipd.
    const wantedPool = request.svc.addressPool;
    if (wantedPool !== undefined && wantedPool !== checked.pool.pool.name) return undefined;
    if (request.requested.length > 0 && !sameAddresses(request.requested, ips)) return undefined;
    this.commit(request, checked.pool, ips);
    return undefined;
  }

  addMissingFamily(request: ServiceRequest): void {
    const placement = this.placements.get(request.service);
    if (!placement || placement.ips.length !== 1 || request.policy !== "PreferDualStack") return;
    if (request.family !== "dual" || request.requested.length > 0) return;
    const pool = this.poolsByName.get(placement.pool);
    const [held] = placement.ips;
    if (!pool || !held) return;
    const missing: Family = held.family === 4 ? 6 : 4;
    const value = pick(freeCandidates(pool, request, this.table), missing);
    if (value === undefined) return;
    const added: Ip = { family: missing, value };
    this.table.assign(request, pool.pool.name, [added]);
    placement.ips = orderByPrimary([held, added], request.primary);
  }

  /** MetalLB's allocateIPs: explicit IPs, then the address-pool annotation, then auto-assign. */
  allocateNew(request: ServiceRequest): Outcome {
    if (request.requested.length > 0) return this.allocateRequested(request);
    const wantedPool = request.svc.addressPool;
    if (wantedPool !== undefined) return this.allocateFromPool(request, wantedPool);
    return this.allocateAuto(request);
  }

  private allocateRequested(request: ServiceRequest): Outcome {
    const list = quoteGoList(request.requested.map(formatIp));
    const found = familyOfIps(request.requested);
    if (found.family !== request.family) {
      return { error: `requested loadBalancer IP(s) ${list} does not match the ipFamily of the service` };
    }
    const checked = this.check(request, request.requested);
    if ("error" in checked) return checked;
    const wantedPool = request.svc.addressPool;
    if (wantedPool !== undefined && wantedPool !== checked.pool.pool.name) {
      return {
        error: `requested loadBalancer IP(s) ${list} is not compatible with requested address pool ${wantedPool}`,
      };
    }
    return this.commit(request, checked.pool, request.requested);
  }

  private allocateFromPool(request: ServiceRequest, poolName: string): Outcome {
    const pool = this.poolsByName.get(poolName);
    if (!pool) return { error: `unknown pool ${quoteGo(poolName)}` };
    const candidates = freeCandidates(pool, request, this.table);
    if (candidates.ipv4 === undefined && candidates.ipv6 === undefined) {
      return { error: `no available IPs in pool ${poolName}` };
    }
    const ips = selectIps(candidates, request);
    if ("error" in ips) return ips;
    const checked = this.check(request, ips.ips);
    if ("error" in checked) return checked;
    return this.commit(request, checked.pool, ips.ips);
  }

  /** Pinned pools by priority, then unpinned ones; only the generic text on failure, as in MetalLB. */
  private allocateAuto(request: ServiceRequest): Outcome {
    const pinned = this.pinned.filter((p) => pinnedTo(p.pool, request) && compatible(p.pool, request));
    for (const pools of [pinned, this.unpinned]) {
      const candidates = this.bestCandidates(pools, request);
      if (!candidates) continue;
      const ips = selectIps(candidates, request);
      if ("error" in ips) continue;
      const checked = this.check(request, ips.ips);
      if ("error" in checked) continue;
      return this.commit(request, checked.pool, ips.ips);
    }
    return { error: "no available IPs" };
  }

  /** MetalLB's findBestPoolForService. */
  private bestCandidates(pools: readonly ScannedPool[], request: ServiceRequest): PoolCandidates | undefined {
    const secondary: Family = request.primary === 4 ? 6 : 4;
    const preferDual = request.policy === "PreferDualStack" && request.family === "dual";
    let primaryFallback: PoolCandidates | undefined;
    let secondaryFallback: PoolCandidates | undefined;
    for (const pool of pools) {
      const candidates = freeCandidates(pool, request, this.table);
      if (request.family !== "dual" && pick(candidates, request.family === "ipv4" ? 4 : 6) !== undefined) {
        return candidates;
      }
      const hasPrimary = pick(candidates, request.primary) !== undefined;
      const hasSecondary = pick(candidates, secondary) !== undefined;
      if (hasPrimary && hasSecondary) return candidates;
      if (!preferDual) continue;
      if (hasPrimary) primaryFallback ??= candidates;
      if (hasSecondary) secondaryFallback ??= candidates;
    }
    return primaryFallback ?? secondaryFallback;
  }

  /**
   * MetalLB's Assign without the commit: containing pool, compatibility, sharing. Its "more than two
   * addresses" and "same family" checks cannot fire here: every caller has already passed the addresses
   * through familyOfIps, which reports those cases with MetalLB's IPFamilyForAddresses texts.
   */
  private check(request: ServiceRequest, ips: readonly Ip[]): { pool: ScannedPool } | { error: string } {
    const pool = this.pools.find((p) => ips.every((ip) => poolOffers(p, ip.family, ip.value)));
    // The quoted list only for the error: formatting every kept address on every reload cost milliseconds.
    if (!pool) return { error: `${quoteGoList(ips.map(formatIp))} is not allowed in config` };
    if (!compatible(pool.pool, request))
      return { error: `pool ${pool.pool.name} not compatible for ip assignment` };
    for (const ip of ips) {
      const error = this.table.checkSharing(request, ip.family, ip.value);
      if (error !== undefined) return { error };
    }
    return { pool };
  }

  private commit(request: ServiceRequest, pool: ScannedPool, ips: readonly Ip[]): Outcome {
    this.table.assign(request, pool.pool.name, ips);
    const placement: Placement = { pool: pool.pool.name, ips: orderByPrimary(ips, request.primary) };
    this.placements.set(request.service, placement);
    return { placement };
  }

  result(
    requests: readonly ServiceRequest[],
    errors: AllocationError[],
    warnings: Diagnostic[],
  ): AllocationResult {
    const assignments: Assignment[] = [];
    const stateAssignments: Record<string, { ips: string[]; pool: string }> = {};
    for (const request of requests) {
      const placement = this.placements.get(request.service);
      if (!placement) continue;
      const formatted = formattedPlacement(request.service, placement);
      assignments.push(formatted.assignment);
      stateAssignments[request.service] = formatted.entry;
    }
    return this.finish(assignments, stateAssignments, errors, warnings, this.poolUsage());
  }

  /**
   * result() for a run made by allocateEdit from `before`'s: its assignments and state entries, less the
   * removed services', with the added services' placements merged in key order; the pools' use counted
   * from before's by the addresses released and taken.
   */
  patch(
    before: AllocationResult,
    removed: ReadonlySet<string>,
    added: readonly ServiceRequest[],
    errors: AllocationError[],
  ): AllocationResult {
    const fresh: Assignment[] = [];
    const change = new Map<string, Record<Family, number>>();
    const count = (pool: string, ips: readonly Ip[], by: number): void => {
      const counts = change.get(pool) ?? { 4: 0, 6: 0 };
      for (const ip of ips) counts[ip.family] += by;
      change.set(pool, counts);
    };
    for (const request of added) {
      const placement = this.placements.get(request.service);
      if (!placement) continue;
      fresh.push(formattedPlacement(request.service, placement).assignment);
      count(placement.pool, placement.ips, 1);
    }
    const assignments: Assignment[] = [];
    const stateAssignments: Record<string, { ips: string[]; pool: string }> = {};
    const previousEntries = before.state.assignments as Record<string, { ips: string[]; pool: string }>;
    let next = 0;
    for (const a of before.assignments) {
      if (removed.has(a.service)) {
        count(
          a.pool,
          a.ips.map((text) => parseIp(text) as Ip),
          -1,
        );
        continue;
      }
      for (
        let f = fresh[next];
        f !== undefined && compareStrings(f.service, a.service) < 0;
        f = fresh[++next]
      )
        this.pushFresh(f, assignments, stateAssignments);
      assignments.push(a);
      stateAssignments[a.service] = previousEntries[a.service] as { ips: string[]; pool: string };
    }
    for (let f = fresh[next]; f !== undefined; f = fresh[++next])
      this.pushFresh(f, assignments, stateAssignments);
    const pools = before.pools.map((usage) => {
      const delta = change.get(usage.pool);
      if (delta === undefined || (delta[4] === 0 && delta[6] === 0)) return usage;
      return {
        pool: usage.pool,
        ipv4: { inUse: usage.ipv4.inUse + delta[4], total: usage.ipv4.total },
        ipv6: { inUse: usage.ipv6.inUse + delta[6], total: usage.ipv6.total },
      };
    });
    return this.finish(assignments, stateAssignments, errors, [], pools);
  }

  private pushFresh(
    assignment: Assignment,
    assignments: Assignment[],
    stateAssignments: Record<string, { ips: string[]; pool: string }>,
  ): void {
    const placement = this.placements.get(assignment.service) as Placement;
    assignments.push(assignment);
    stateAssignments[assignment.service] = formattedPlacement(assignment.service, placement).entry;
  }

  private finish(
    assignments: Assignment[],
    stateAssignments: Record<string, { ips: string[]; pool: string }>,
    errors: AllocationError[],
    warnings: Diagnostic[],
    pools: PoolUsage[],
  ): AllocationResult {
    errors.sort((a, b) => compareStrings(a.service, b.service) || compareStrings(a.message, b.message));
    const state: AllocationState = { version: 1, assignments: stateAssignments };
    return { assignments, errors, warnings, pools, state };
  }

  private poolUsage(): PoolUsage[] {
    const used = new Map<string, Record<Family, number>>();
    for (const holder of this.table.holders()) {
      const counts = used.get(holder.pool) ?? { 4: 0, 6: 0 };
      counts[holder.family]++;
      used.set(holder.pool, counts);
    }
    return [...this.poolsByName.values()].map(({ pool }) => {
      const capacity = poolCapacity(pool);
      const inUse = used.get(pool.name) ?? { 4: 0, 6: 0 };
      return {
        pool: pool.name,
        ipv4: { inUse: inUse[4], total: Number(capacity[4]) },
        ipv6: { inUse: inUse[6], total: Number(capacity[6]) },
      };
    });
  }
}

/**
 * MetalLB's pinned-pool lookup (Pools.ByNamespace[ns] plus Pools.ByServiceSelector): listed namespaces or
 * any service selector. A serviceAllocation with neither (its namespaceSelectors matched no Namespace)
 * pins the pool to nobody, so auto-assign never uses it; the loader turns "no restriction at all" into a
 * match-everything selector, as MetalLB does.
 */
function pinnedTo(pool: AddressPool, request: ServiceRequest): boolean {
  const allocation = pool.serviceAllocation;
  if (!allocation) return false;
  return allocation.serviceSelectors.length > 0 || allocation.namespaces.includes(request.svc.namespace);
}

/** MetalLB's isPoolCompatibleWithService, applied on every path. */
function compatible(pool: AddressPool, request: ServiceRequest): boolean {
  const allocation = pool.serviceAllocation;
  if (!allocation) return true;
  const svc = request.svc;
  if (allocation.namespaces.length > 0 && !allocation.namespaces.includes(svc.namespace)) return false;
  if (allocation.serviceSelectors.length === 0) return true;
  return allocation.serviceSelectors.some((selector) => matchesSelector(selector, svc.labels));
}

/** MetalLB's selectIPsForFamilyAndPolicy, with the primary family listed first. */
function selectIps(candidates: PoolCandidates, request: ServiceRequest): { ips: Ip[] } | { error: string } {
  const ipv4: Ip | undefined =
    candidates.ipv4 === undefined ? undefined : { family: 4, value: candidates.ipv4 };
  const ipv6: Ip | undefined =
    candidates.ipv6 === undefined ? undefined : { family: 6, value: candidates.ipv6 };
  let chosen: Ip[] | undefined;
  if (request.family === "ipv4") chosen = ipv4 && [ipv4];
  else if (request.family === "ipv6") chosen = ipv6 && [ipv6];
  else if (ipv4 && ipv6) chosen = orderByPrimary([ipv4, ipv6], request.primary);
  else if (request.policy === "PreferDualStack") chosen = ipv4 ? [ipv4] : ipv6 && [ipv6];
  if (chosen) return { ips: chosen };
  return { error: `no available IPs in pool ${candidates.pool} for ${request.family} IPFamily` };
}

function pick(candidates: PoolCandidates, family: Family): bigint | undefined {
  return family === 4 ? candidates.ipv4 : candidates.ipv6;
}

/** Lower positive priorities first; 0 (unset) means last. */
function comparePriority(a: AddressPool, b: AddressPool): number {
  const pa = a.serviceAllocation?.priority ?? 0;
  const pb = b.serviceAllocation?.priority ?? 0;
  if (pa > 0 && pb > 0) return pa - pb;
  return (pa > 0 ? 0 : 1) - (pb > 0 ? 0 : 1);
}

function sameAddresses(a: readonly Ip[], b: readonly Ip[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x) => b.some((y) => x.family === y.family && x.value === y.value));
}

function errorFor(request: ServiceRequest, message: string): AllocationError {
  return { service: request.service, message, source: request.svc.source };
}

/** Code-unit order, not locale order: the same on every machine. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
