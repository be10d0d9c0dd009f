// The config in force: manifests, their allocation and the VIP groups to elect. A reload that fails keeps the
// previous one whole, so a bad edit never costs a VIP.
import { allocate } from "../alloc/allocator";
import type { AllocationResult, AllocationState } from "../alloc/types";
import { formatDiagnostic } from "../config/diagnostics";
import type { LoadResult, ManifestConfig } from "../config/types";
import type { L2Advertisement, Labels } from "../config/types";
import type { Settings } from "../config/settings";
import type { NodePolicy } from "../plan/types";
import { activateEdit } from "./config-edit";
import { reuseFrom } from "./config-reuse";
import { planGroup, selectsNode, vipGroups, type GroupPlan, type VipGroup } from "../election/election";
import { ElectionHashes } from "../election/election-hashes";

export interface ActiveConfig {
  readonly load: LoadResult;
  readonly config: ManifestConfig;
  readonly allocation: AllocationResult;
  readonly groups: readonly VipGroup[];
  /** Every IP of every group -> its group: the reconcile and address callbacks look IPs up per event. */
  readonly groupByIp: ReadonlyMap<string, VipGroup>;
  /** electionIp -> the config-only part of its election, so a reconcile does not redo it per group. */
  readonly plans: ReadonlyMap<string, GroupPlan>;
  readonly loadedAt: Date;
}

export type ReloadOutcome =
  | { readonly ok: true; readonly active: ActiveConfig }
  | { readonly ok: false; readonly errors: readonly string[] };

/**
 * Pure: turn a load result plus the previous allocation into the config to run, or the reasons not to. With
 * `before` (the config in force), the VIP groups an edit left alone keep their objects and plans
 * (config-reuse.ts), and an edit that only adds or removes services is applied to it as an edit
 * (config-edit.ts), when `previous` is its allocation.
 */
export function activate(
  load: LoadResult,
  previous: AllocationState | undefined,
  now: Date,
  before?: ActiveConfig,
): ReloadOutcome {
  if (!load.config) {
    const errors = load.diagnostics.filter((d) => d.severity === "error").map(formatDiagnostic);
    return { ok: false, errors: errors.length > 0 ? errors : ["configuration did not load"] };
  }
  // An edit that only adds or removes services patches the config in force (config-edit.ts).
  const edited = before && previous === before.allocation.state ? activateEdit(load, before, now) : undefined;
  if (edited) return { ok: true, active: edited };
  const config = load.config;
  const allocation = allocate(config, previous);
  const reuse = before && reuseFrom(before, config);
  const groups = vipGroups(allocation.assignments).map((g) => reuse?.group(g) ?? g);
  const groupByIp = new Map<string, VipGroup>();
  const plans = new Map<string, GroupPlan>();
  for (const group of groups) {
    plans.set(group.electionIp, reuse?.plan(group) ?? planGroup(group, config));
    for (const ip of group.ips) groupByIp.set(ip, group);
  }
  return {
    ok: true,
    active: { load, config, allocation, groups, groupByIp, plans, loadedAt: now },
  };
}

/**
 * Carries the election hashes of `from` over to the groups `to` elects by the same IP. A hash depends only on
 * the member and the election IP, and a reloaded config otherwise starts with none: the first pass after a
 * reload then hashed every member for every group (SHA-256, 3,000 of them at 1,000 VIPs) right when the new
 * VIP waited for its election.
 */
/**
 * A config activated on the config worker's thread arrives as a structured clone: data without classes, so
 * each plan's ElectionHashes is a bare object. The worker never elects, so they are empty: new ones replace them.
 */
export function reviveElectionHashes(active: ActiveConfig): void {
  for (const plan of active.plans.values()) Object.assign(plan, { hashes: new ElectionHashes() });
}

export function inheritElectionHashes(from: ActiveConfig, to: ActiveConfig): void {
  for (const [electionIp, plan] of to.plans) {
    if (!plan.hashes.empty) continue;
    const known = from.plans.get(electionIp)?.hashes;
    if (known) for (const [node, rank] of known) plan.hashes.setRank(node, rank);
  }
}

/**
 * Every VIP -> the interfaces named by the advertisements that apply to it and select a node with `labels`
 * ([] = any interface on the VIP's subnet): what this node's interface choice follows. Groups with the same
 * advertisements share one list, worked out once: a config has a handful of advertisements and thousands of
 * groups, and filtering, merging and sorting them per group was ~250 ms of a 10,000-VIP reload's main thread
 * (cpu-prof), right before the new VIP's election.
 */
export function advertisedInterfaces(active: ActiveConfig, labels: Labels): Map<string, readonly string[]> {
  const vips = new Map<string, readonly string[]>();
  const selects = new Map<L2Advertisement, boolean>();
  const bySingleAd = new Map<L2Advertisement, readonly string[]>();
  const byAds = new Map<string, readonly string[]>();
  const adIds = new Map<L2Advertisement, number>();
  const interfacesOf = (ads: readonly L2Advertisement[]): readonly string[] => {
    const only = ads.length === 1 ? ads[0] : undefined;
    const known = only ? bySingleAd.get(only) : byAds.get(adsKey(ads, adIds));
    if (known) return known;
    const interfaces = interfacesNamedBy(ads, (ad) => {
      let selected = selects.get(ad);
      if (selected === undefined) selects.set(ad, (selected = selectsNode(ad, labels)));
      return selected;
    });
    if (only) bySingleAd.set(only, interfaces);
    else byAds.set(adsKey(ads, adIds), interfaces);
    return interfaces;
  };
  for (const group of active.groups) {
    const ads = (active.plans.get(group.electionIp) ?? planGroup(group, active.config)).distinctAds;
    const interfaces = interfacesOf(ads);
    for (const ip of group.ips) vips.set(ip, interfaces);
  }
  return vips;
}

/** The interfaces the advertisements that select this node name ([] = any, when one names none). */
function interfacesNamedBy(
  ads: readonly L2Advertisement[],
  selects: (ad: L2Advertisement) => boolean,
): readonly string[] {
  const mine = ads.filter(selects);
  return mine.some((ad) => ad.interfaces.length === 0)
    ? []
    : [...new Set(mine.flatMap((ad) => ad.interfaces))].sort();
}

/** advertisedInterfaces' list for the VIPs of one group (a reload's new VIP, before the whole map is made). */
export function advertisedInterfacesOf(
  active: ActiveConfig,
  labels: Labels,
  group: VipGroup,
): readonly string[] {
  const ads = (active.plans.get(group.electionIp) ?? planGroup(group, active.config)).distinctAds;
  return interfacesNamedBy(ads, (ad) => selectsNode(ad, labels));
}

/** A key for a list of advertisements by their identity (numbered in the order first seen). */
function adsKey(ads: readonly L2Advertisement[], ids: Map<L2Advertisement, number>): string {
  return ads
    .map((ad) => {
      let id = ids.get(ad);
      if (id === undefined) ids.set(ad, (id = ids.size));
      return id;
    })
    .join(",");
}

/** This node as the planner sees it, from the daemon's settings. */
export function nodePolicy(settings: Settings): NodePolicy {
  const cluster = settings.cluster;
  return {
    name: settings.nodeName,
    labels: settings.labels,
    failback: cluster.failback,
    quorum: { mode: cluster.quorum, expect: cluster.expect ?? cluster.join.length + 1 },
    probeBeforeTakeover: cluster.arpProbeMs > 0,
  };
}
