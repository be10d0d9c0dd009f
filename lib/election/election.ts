// Who announces which IP: a pure function of the membership view, each node's reported eligibility and the
// config. Every node runs it on its own view; equal views give equal answers, so no coordination is needed.
import { createHash } from "node:crypto";
import type { Assignment } from "../alloc/types";
import { matchesSelector, selectorsMatchAny } from "../config/selectors";
import { FAILBACK_ANNOTATION } from "../config/l2advertisement";
import type { L2Advertisement, Labels, ManifestConfig, Service } from "../config/types";
import { compareText } from "../order";
import { ElectionHashes, hashRank } from "./election-hashes";
import { exact } from "../arrays";

/** A set of IPs that must always have the same owner: a dual-stack pair, or an IP shared by services. */
export interface VipGroup {
  /** The IP whose hash orders the candidates: the first IP of the first service, as MetalLB does. */
  readonly electionIp: string;
  readonly ips: readonly string[];
  /** Service keys, sorted. */
  readonly services: readonly string[];
  readonly pool: string;
}

export type MemberState = "alive" | "suspect" | "dead" | "left";

/** A member that may still be serving: alive, or suspect (not yet declared dead). */
export { isLive } from "../gossip/members";

export interface MemberInfo {
  readonly name: string;
  readonly state: MemberState;
  readonly labels: Labels;
}

/** What a node says about itself for one IP: it has a usable interface, its health checks pass. */
export interface EligibilityReport {
  readonly eligible: boolean;
  readonly reason?: string;
  /** The interface the node would announce on, so every node's status can say where the owner announces. */
  readonly interface?: string;
}

/** ip -> report for one node; a ReadonlyMap is one, the daemon answers lazily from gossip. */
export interface EligibilityLookup {
  get(ip: string): EligibilityReport | undefined;
}

/**
 * node -> ip -> report. A node that has not reported an IP is not eligible for it. Only `get` is used, so a
 * view over thousands of VIPs need not be materialised on every reconcile.
 */
export interface EligibilityView {
  get(node: string): EligibilityLookup | undefined;
}

export interface ElectionPolicy {
  /** false = non-revertive: keep the current owner while it is still a candidate. */
  readonly failback: boolean;
  /** The owner as this node last computed it. */
  readonly currentOwner?: string;
  /**
   * Members that say (in their gossiped metadata) that they hold the IP now. Non-revertive mode keeps the
   * best-ranked claimant that is still a candidate, so a node that just (re)joined adopts the owner the
   * cluster already has instead of its own ranking, and two claimants after a healed partition agree.
   */
  readonly claimants?: readonly string[];
}

/** Non-revertive when the global setting says so or any advertisement that applies to the group does. */
export function failbackFor(group: VipGroup, config: ManifestConfig, globalFailback: boolean): boolean {
  return globalFailback && planGroup(group, config).failback;
}

/**
 * The part of a group's election that depends only on the config: which advertisements apply to each of its
 * services, and whether the group can be announced at all. Computed once per config (see planGroups), so a
 * reconcile of N groups costs O(N x members), not O(N x services).
 */
export interface GroupPlan {
  readonly group: VipGroup;
  readonly adsPerService: readonly ServiceAds[];
  readonly distinctAds: readonly L2Advertisement[];
  /** Why nobody may announce the group whatever the members say. */
  readonly unannounced?: string;
  /** false when an advertisement that applies to the group is annotated non-revertive. */
  readonly failback: boolean;
  /** node -> the rank of electionHash(node, electionIp), filled as members are met: fixed per config. */
  readonly hashes: ElectionHashes;
}

interface ServiceAds {
  readonly service: Service | undefined;
  readonly ads: readonly L2Advertisement[];
}

/** Service key -> service, built once per config object (configs are immutable once loaded). */
const serviceIndexes = new WeakMap<ManifestConfig, ReadonlyMap<string, Service>>();
export function serviceIndex(config: ManifestConfig): ReadonlyMap<string, Service> {
  let index = serviceIndexes.get(config);
  if (!index) {
    index = new Map(config.services.map((s) => [s.key, s]));
    serviceIndexes.set(config, index);
  }
  return index;
}

export function planGroup(
  group: VipGroup,
  config: ManifestConfig,
  /** The config's services by key, or any map that holds the group's (config-edit.ts: the added ones). */
  services: ReadonlyMap<string, Service> = serviceIndex(config),
): GroupPlan {
  const adsPerService = group.services.map((key) => {
    const service = services.get(key);
    return { service, ads: service ? advertisementsFor(config, service, group.pool) : [] };
  });
  const distinctAds = [...new Set(adsPerService.flatMap((s) => s.ads))];
  const failback = !distinctAds.some((ad) => ad.annotations[FAILBACK_ANNOTATION] === "false");
  const base = { group, adsPerService, distinctAds, failback, hashes: new ElectionHashes() };
  const missing = adsPerService.find((s) => s.ads.length === 0);
  if (missing) {
    return {
      ...base,
      unannounced: `noMatchingAdvertisement: no L2Advertisement covers pool "${group.pool}" for service ${missing.service?.key ?? "?"}`,
    };
  }
  const sharedWithSelectors = adsPerService.find(
    (s) => s.service?.sharingKey !== undefined && s.ads.some((ad) => ad.serviceSelectors.length > 0),
  );
  if (sharedWithSelectors) {
    return {
      ...base,
      unannounced: `sharedIPWithServiceSelector: ${sharedWithSelectors.service?.key ?? "?"} uses allow-shared-ip with an L2Advertisement that has serviceSelectors`,
    };
  }
  return base;
}

/** electionIp -> plan for every group of a config. */
export function planGroups(groups: readonly VipGroup[], config: ManifestConfig): Map<string, GroupPlan> {
  return new Map(groups.map((g) => [g.electionIp, planGroup(g, config)]));
}

/**
 * A node's place in one group's ranking. Its election hash is not in it: that is the group plan's
 * (`plan.hashes`), and without it every candidate with the same score is the same frozen object in every
 * group (verdictOf), where 10,000 groups held 30,000 verdicts.
 */
export interface RankedNode {
  readonly node: string;
  readonly score: number;
  /** Why this node cannot own the IP; absent for candidates. */
  readonly skipped?: string;
}

/** A ranked node with its election hash, as `vipd status` shows it (withHashes). */
export interface CandidateVerdict extends RankedNode {
  /** Hex SHA-256 of `node#electionIp`; lower wins among equal scores. */
  readonly hash: string;
}

export interface ElectionResult {
  readonly owner?: string;
  /** Candidates in election order, then the skipped nodes with their reasons. */
  readonly ranking: readonly RankedNode[];
  /** Why nobody owns the IP, when `owner` is absent. */
  readonly reason?: string;
  /** Interfaces named by the advertisements that select the owner; empty = choose by subnet. */
  readonly interfaces: readonly string[];
}

export function electionHash(node: string, ip: string): string {
  return createHash("sha256").update(`${node}#${ip}`).digest("hex");
}

/** Groups assignments so that IPs that must move together are elected once. Deterministic. */
export function vipGroups(assignments: readonly Assignment[]): VipGroup[] {
  const sorted = [...assignments].sort((a, b) => compareText(a.service, b.service));
  const single = singleGroups(sorted);
  if (single) return single;
  const parent = new Map<string, string>();
  const find = (ip: string): string => {
    let root = ip;
    while (parent.get(root) !== root) root = parent.get(root) ?? root;
    parent.set(ip, root);
    return root;
  };
  for (const a of sorted) {
    for (const ip of a.ips) if (!parent.has(ip)) parent.set(ip, ip);
    const [first, ...others] = a.ips;
    if (first === undefined) continue;
    for (const ip of others) {
      const [ra, rb] = [find(first), find(ip)];
      if (ra !== rb) parent.set(rb, ra);
    }
  }
  const groups = new Map<
    string,
    { ips: Set<string>; services: string[]; electionIp: string; pool: string }
  >();
  for (const a of sorted) {
    const first = a.ips[0];
    if (first === undefined) continue;
    const root = find(first);
    let group = groups.get(root);
    if (!group) {
      group = { ips: new Set(), services: [], electionIp: first, pool: a.pool };
      groups.set(root, group);
    }
    for (const ip of a.ips) group.ips.add(ip);
    group.services.push(a.service);
  }
  return [...groups.values()]
    .map((g) => ({
      electionIp: g.electionIp,
      ips: exact([...g.ips]),
      services: exact(g.services),
      pool: g.pool,
    }))
    .sort((a, b) => compareText(a.electionIp, b.electionIp));
}

/**
 * vipGroups when no IP is in two assignments (no shared IPs, the usual case): each assignment is a group of
 * its own, built without the union-find's maps and sets (a reload of 10,000 services allocated ~8 MB there,
 * under the daemon's --optimize-for-size a full GC's worth). Undefined when some IP is shared.
 */
function singleGroups(sorted: readonly Assignment[]): VipGroup[] | undefined {
  const seen = new Set<string>();
  for (const a of sorted) {
    for (const ip of a.ips) {
      if (seen.has(ip)) return undefined;
      seen.add(ip);
    }
  }
  const groups: VipGroup[] = [];
  for (const a of sorted) {
    const first = a.ips[0];
    if (first === undefined) continue;
    groups.push({ electionIp: first, ips: a.ips, services: [a.service], pool: a.pool });
  }
  return groups.sort((a, b) => compareText(a.electionIp, b.electionIp));
}

/** The L2Advertisements that apply to a service: those covering its pool whose serviceSelectors match it. */
export function advertisementsFor(
  config: ManifestConfig,
  service: Service,
  pool: string,
): readonly L2Advertisement[] {
  // Services of one pool and labels get the same list: one shared array per config, not one per service.
  let lists = adListsByConfig.get(config);
  if (!lists) {
    lists = new Map();
    adListsByConfig.set(config, lists);
  }
  const key = `${pool}\n${labelsKey(service.labels)}`;
  let ads = lists.get(key);
  if (!ads) {
    ads = exact(
      config.advertisements.filter(
        (ad) => ad.pools.includes(pool) && selectorsMatchAny(ad.serviceSelectors, service.labels),
      ),
    );
    lists.set(key, ads);
  }
  return ads;
}
const adListsByConfig = new WeakMap<ManifestConfig, Map<string, readonly L2Advertisement[]>>();
const labelsKey = (labels: Labels): string => {
  const keys = Object.keys(labels);
  return keys.length === 0 ? "" : JSON.stringify(keys.sort().map((k) => [k, labels[k]]));
};

/** The advertisement's nodeSelectors pick this node (none = every node). */
export const selectsNode = (ad: L2Advertisement, labels: Labels): boolean =>
  selectorsMatchAny(ad.nodeSelectors, labels);

/**
 * The owner of a VIP group. Candidates are alive or suspect members (a suspect may still be serving, as in
 * MetalLB) that every service of the group advertises on and that report themselves eligible for every IP.
 */
export function ownerOf(
  group: VipGroup,
  members: readonly MemberInfo[],
  eligibility: EligibilityView,
  config: ManifestConfig,
  policy: ElectionPolicy,
): ElectionResult {
  return electOwner(planGroup(group, config), members, eligibility, policy);
}

/**
 * ownerOf with the config-only part precomputed. Given the group's `previous` result, returns that same
 * object when the outcome is unchanged: the daemon elects every group every second, and fresh results
 * (10,000 at scale) replacing equal ones were most of what grew its old generation.
 */
export function electOwner(
  plan: GroupPlan,
  members: readonly MemberInfo[],
  eligibility: EligibilityView,
  policy: ElectionPolicy,
  previous?: ElectionResult,
): ElectionResult {
  if (plan.unannounced !== undefined) {
    if (previous?.owner === undefined && previous?.reason === plan.unannounced) return previous;
    return { ranking: [], reason: plan.unannounced, interfaces: [] };
  }
  if (previous !== undefined && unchanged(plan, members, eligibility, policy, previous)) return previous;
  return electAfresh(plan, members, eligibility, policy, previous);
}

/**
 * The full election. Apart from electOwner because its sort and find callbacks capture `plan` and `policy`:
 * V8 allocates the context they share on entry to the function that holds them, and in electOwner that was
 * every group's every pass, unchanged ones too (~70 bytes each).
 */
function electAfresh(
  plan: GroupPlan,
  members: readonly MemberInfo[],
  eligibility: EligibilityView,
  policy: ElectionPolicy,
  previous: ElectionResult | undefined,
): ElectionResult {
  const { group, adsPerService, distinctAds } = plan;
  const verdicts: RankedNode[] = [];
  for (const member of members) {
    // A loop, not filter/flatMap/reduce: three arrays per member per group per tick.
    let score = 0;
    for (const ad of distinctAds) {
      if (!selectsNode(ad, member.labels)) continue;
      for (const p of ad.preferredNodeSelectors)
        if (matchesSelector(p.preference, member.labels)) score += p.weight;
    }
    const skipped = skipReason(member, group, adsPerService, eligibility);
    verdicts.push(verdictOf(member.name, score, skipped));
  }
  const candidates = verdicts
    .filter((v) => v.skipped === undefined)
    .sort((a, b) => b.score - a.score || electionOrder(plan, a.node, b.node));
  const skipped = verdicts.filter((v) => v.skipped !== undefined).sort((a, b) => compareText(a.node, b.node));
  const claimed = candidates.find((c) => policy.claimants?.includes(c.node));
  const remembered = candidates.find((c) => c.node === policy.currentOwner);
  const sticky = policy.failback ? undefined : (claimed ?? remembered);
  const owner = sticky ? sticky.node : candidates[0]?.node;
  if (owner === undefined) {
    // Say why per node, so "failing everywhere" reads as such in every node's status.
    const why = skipped.map((v) => `${v.node}: ${v.skipped}`).join("; ");
    const reason = why ? `no eligible node (${why})` : "no eligible node";
    if (
      previous?.owner === undefined &&
      previous?.reason === reason &&
      sameRanking(previous.ranking, skipped)
    )
      return previous;
    return { ranking: skipped, reason, interfaces: [] };
  }
  const ownerLabels = members.find((m) => m.name === owner)?.labels ?? {};
  const ownerAds = distinctAds.filter((ad) => selectsNode(ad, ownerLabels));
  const byAllInterfaces = ownerAds.some((ad) => ad.interfaces.length === 0);
  const interfaces = byAllInterfaces ? [] : [...new Set(ownerAds.flatMap((ad) => ad.interfaces))].sort();
  const ranking = internedRanking(candidates, skipped);
  if (
    previous?.owner === owner &&
    previous.reason === undefined &&
    previous.interfaces.length === interfaces.length &&
    previous.interfaces.every((itf, i) => itf === interfaces[i]) &&
    sameRanking(previous.ranking, ranking)
  )
    return previous;
  return { owner, ranking, interfaces };
}

const compareHashes = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Why a dead or left member is skipped: one string each, not a new one per group. */
const MEMBER_GONE = { dead: "member is dead", left: "member is left" } as const;
const isGoneReason = (reason: string | undefined): boolean =>
  reason === MEMBER_GONE.dead || reason === MEMBER_GONE.left;

/**
 * node -> score -> reason -> the frozen verdict, shared by every group: candidates (no reason) and members
 * skipped for their state (after a death every group's ranking names the dead member, 10,000 at scale). A
 * handful of objects whatever the number of groups. Other reasons name an IP and stay per group.
 */
const sharedVerdicts = new Map<string, Map<number, Map<string | undefined, RankedNode>>>();
function verdictOf(node: string, score: number, skipped: string | undefined): RankedNode {
  if (skipped !== undefined && !isGoneReason(skipped)) return { node, score, skipped };
  let byScore = sharedVerdicts.get(node);
  if (byScore === undefined) {
    if (sharedVerdicts.size >= INTERNED_MAX) sharedVerdicts.clear();
    byScore = new Map();
    sharedVerdicts.set(node, byScore);
  }
  let byReason = byScore.get(score);
  if (byReason === undefined) {
    byReason = new Map();
    byScore.set(score, byReason);
  }
  let verdict = byReason.get(skipped);
  if (verdict === undefined) {
    verdict = Object.freeze(skipped === undefined ? { node, score } : { node, score, skipped });
    byReason.set(skipped, verdict);
  }
  return verdict;
}

/** Bound on each intern table (entries, trie nodes): members come and go over a daemon's life. */
const INTERNED_MAX = 4096;

/**
 * The ranking `candidates` then `skipped`, shared by every group that ranks the same verdict objects in the
 * same order. With a handful of members there are a handful of orders, and a membership change re-elects
 * every group: the full pass after a member's death built 10,000 arrays that the next full GC freed (under
 * --optimize-for-size most of that pass's time was the collector). Only rankings of shared verdicts
 * (candidates, members gone) are interned; a verdict naming an IP keeps its ranking to its group. Larger
 * clusters rank their groups in more orders than the table holds, and their rankings are built per group.
 */
const internedRankings = new Map<RankedNode, RankingTrieNode>();
interface RankingTrieNode {
  ranking?: readonly RankedNode[];
  readonly children: Map<RankedNode, RankingTrieNode>;
}
/** Longest ranking interned: 8 members have 40,320 orders, past what sharing can save. */
const INTERNED_RANKING_MAX_LENGTH = 8;
let internedTrieNodes = 0;
function internedRanking(
  candidates: readonly RankedNode[],
  skipped: readonly RankedNode[],
): readonly RankedNode[] {
  const count = candidates.length + skipped.length;
  if (count > INTERNED_RANKING_MAX_LENGTH) return [...candidates, ...skipped];
  for (const v of skipped) if (!isGoneReason(v.skipped)) return [...candidates, ...skipped];
  // A trie keyed by verdict identity: interned verdicts are equal exactly when they are the same object.
  let level = internedRankings;
  let node: RankingTrieNode | undefined;
  for (let i = 0; i < count; i++) {
    const v = (i < candidates.length ? candidates[i] : skipped[i - candidates.length]) as RankedNode;
    node = level.get(v);
    if (node === undefined) {
      if (internedTrieNodes >= INTERNED_MAX) {
        // Full (members came and went, or too many orders): start over; rankings handed out stay valid.
        internedRankings.clear();
        internedTrieNodes = 0;
        return [...candidates, ...skipped];
      }
      node = { children: new Map() };
      level.set(v, node);
      internedTrieNodes++;
    }
    level = node.children;
  }
  if (node === undefined) return [];
  node.ranking ??= Object.freeze([...candidates, ...skipped]);
  return node.ranking;
}

/** `ranking` with each node's election hash for `plan`'s group (what `vipd status` shows). */
export function withHashes(ranking: readonly RankedNode[], plan: GroupPlan | undefined): CandidateVerdict[] {
  if (plan === undefined) return [];
  return ranking.map((v) => ({ ...v, hash: electionHash(v.node, plan.group.electionIp) }));
}

/** The rank of the node's election hash for the plan's group (election-hashes.ts), computed once. */
function ensureRank(plan: GroupPlan, node: string): void {
  if (!plan.hashes.hasRank(node))
    plan.hashes.setRank(node, hashRank(electionHash(node, plan.group.electionIp)));
}

/** Negative when `a`'s election hash sorts before `b`'s: by rank, and on equal ranks by the whole hash. */
function electionOrder(plan: GroupPlan, a: string, b: string): number {
  ensureRank(plan, a);
  ensureRank(plan, b);
  const byRank = plan.hashes.compareRanks(a, b);
  if (byRank !== 0) return byRank;
  return compareHashes(electionHash(a, plan.group.electionIp), electionHash(b, plan.group.electionIp));
}

function scoreOf(plan: GroupPlan, labels: Labels): number {
  let score = 0;
  for (const ad of plan.distinctAds) {
    if (!selectsNode(ad, labels)) continue;
    for (const p of ad.preferredNodeSelectors) if (matchesSelector(p.preference, labels)) score += p.weight;
  }
  return score;
}

/**
 * Whether the election would give exactly `previous` (an owner, no interface restriction), checked without
 * allocating: each ranked member's verdict is recomputed and compared, then the order and the owner pick.
 * Anything else (no owner, interface-restricted ads) takes the full path. Allocations here ran every second
 * for every group, and V8 pretenured them: old-generation garbage that only a full GC frees.
 */
function unchanged(
  plan: GroupPlan,
  members: readonly MemberInfo[],
  eligibility: EligibilityView,
  policy: ElectionPolicy,
  previous: ElectionResult,
): boolean {
  const ranking = previous.ranking;
  if (previous.owner === undefined || previous.reason !== undefined || previous.interfaces.length > 0)
    return false;
  if (ranking.length !== members.length) return false;
  let ownerLabels: Labels | undefined;
  for (let i = 0; i < ranking.length; i++) {
    const v = ranking[i] as RankedNode;
    let member: MemberInfo | undefined;
    for (const m of members) if (m.name === v.node) member = m;
    if (member === undefined) return false;
    if (v.score !== scoreOf(plan, member.labels)) return false;
    if (skipReason(member, plan.group, plan.adsPerService, eligibility) !== v.skipped) return false;
    if (i > 0) {
      const u = ranking[i - 1] as RankedNode;
      if (v.skipped === undefined) {
        // Candidates first, best first.
        if (u.skipped !== undefined) return false;
        if (u.score < v.score || (u.score === v.score && electionOrder(plan, u.node, v.node) > 0))
          return false;
      } else if (u.skipped !== undefined && compareText(u.node, v.node) > 0) return false;
    }
    if (member.name === previous.owner) ownerLabels = member.labels;
  }
  const first = ranking[0];
  if (first === undefined || first.skipped !== undefined) return false;
  // The same pick as the full path: sticky claimant, then the remembered owner, then the best.
  let owner = first.node;
  if (!policy.failback) {
    let claimed: string | undefined;
    let remembered: string | undefined;
    for (const v of ranking) {
      if (v.skipped !== undefined) break;
      if (claimed === undefined && policy.claimants?.includes(v.node)) claimed = v.node;
      if (v.node === policy.currentOwner) remembered = v.node;
    }
    owner = claimed ?? remembered ?? owner;
  }
  if (owner !== previous.owner || ownerLabels === undefined) return false;
  // interfaces is empty: some advertisement selecting the owner names no interface.
  for (const ad of plan.distinctAds)
    if (ad.interfaces.length === 0 && selectsNode(ad, ownerLabels)) return true;
  return false;
}

/** Rankings of one group: the same nodes in the same order have the same hashes. */
function sameRanking(a: readonly RankedNode[], b: readonly RankedNode[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    const w = b[i];
    if (v?.node !== w?.node || v?.score !== w?.score || v?.skipped !== w?.skipped) return false;
  }
  return true;
}

function skipReason(
  member: MemberInfo,
  group: VipGroup,
  adsPerService: readonly { service: Service | undefined; ads: readonly L2Advertisement[] }[],
  eligibility: EligibilityView,
): string | undefined {
  if (member.state === "dead" || member.state === "left") return MEMBER_GONE[member.state];
  // Loops, not find/some with closures: this runs for every member of every group every second, and the
  // closures were ~70 % of what the steady pass allocated (450 KB a pass at 1,000 groups).
  for (const { service, ads } of adsPerService) {
    let selected = false;
    for (const ad of ads)
      if (selectsNode(ad, member.labels)) {
        selected = true;
        break;
      }
    if (!selected) return `not selected by the nodeSelectors of any L2Advertisement for ${service?.key}`;
  }
  const reports = eligibility.get(member.name);
  for (const ip of group.ips) {
    const report = reports?.get(ip);
    if (!report) return `has not reported eligibility for ${ip}`;
    if (!report.eligible) return report.reason ?? `not eligible for ${ip}`;
  }
  return undefined;
}
