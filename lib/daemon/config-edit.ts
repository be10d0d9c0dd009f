// A reload that only adds and removes services, applied to the config in force as an edit. The usual edit
// of a 10,000-service config adds or removes one service; activating it in full rebuilt and sorted 10,000
// assignments and groups and then found almost all of them equal to the ones before (config-reuse.ts), ~600
// ms of a profiled reload's main thread on the lab's busy cores, before the new VIP's election could start.
// Here the config in force is patched: its maps are copied (builtin copies), the removed services' groups
// are taken out and the added ones' merged in, in the order a full activation gives. The result equals the
// full activation's (test/unit/config-edit.test.ts checks it on random edits), but for the order of the
// maps' entries (an edit's come last), which nothing reads: they are looked up by IP. Pure.
import { allocateEdit, type ServiceEdit } from "../alloc/allocator";
import type { Assignment } from "../alloc/types";
import { canonicalJson } from "../config/digest";
import type { Labels, LoadResult, ManifestConfig, Service } from "../config/types";
import { planGroup, serviceIndex, type VipGroup } from "../election/election";
import { compareText } from "../order";
import { advertisedInterfacesOf, type ActiveConfig } from "./config-state";

/** How many activations took the edit path (tests check it runs). */
export const editActivations = { count: 0 };

/**
 * `before` with the services `load` adds and removes, when that is all the reload changed of what
 * activation reads (the same pools and advertisements; every other service the very object it was) and
 * the allocation is one allocateEdit can patch. Undefined otherwise: the caller activates in full.
 */
export function activateEdit(load: LoadResult, before: ActiveConfig, now: Date): ActiveConfig | undefined {
  const config = load.config;
  if (config === undefined) return undefined;
  const edit = serviceEdit(before.config, config);
  if (edit === undefined) return undefined;
  if (canonicalJson(before.config.advertisements) !== canonicalJson(config.advertisements)) return undefined;
  const removedGroups = new Set<VipGroup>();
  for (const service of edit.removed) {
    const electionIp = before.allocation.state.assignments[service]?.ips[0];
    const group = electionIp === undefined ? undefined : before.groupByIp.get(electionIp);
    // A kept run has one service per group (no sharing); anything else is not an edit this path knows.
    if (group !== undefined && (group.services.length !== 1 || group.services[0] !== service))
      return undefined;
    if (group !== undefined) removedGroups.add(group);
  }
  const allocation = allocateEdit(config, before.allocation, edit);
  if (allocation === undefined) return undefined;
  // The new groups' services are the added ones: their plans look them up here, not in an index of
  // all 10,000 (serviceIndex builds one per config).
  const addedIndex = new Map(edit.added.map((s) => [s.key, s]));
  const fresh = allocation.assignments
    .filter((a) => addedIndex.has(a.service) && a.ips.length > 0)
    .map(singleGroup)
    .sort((a, b) => compareText(a.electionIp, b.electionIp));
  const groupByIp = new Map(before.groupByIp);
  const plans = new Map(before.plans);
  for (const group of removedGroups) {
    plans.delete(group.electionIp);
    for (const ip of group.ips) groupByIp.delete(ip);
  }
  for (const group of fresh) {
    // A new group's IP must be free: the allocator gives an unshared IP to one service only.
    for (const ip of group.ips) if (groupByIp.has(ip)) return undefined;
    plans.set(group.electionIp, planGroup(group, config, addedIndex));
    for (const ip of group.ips) groupByIp.set(ip, group);
  }
  editActivations.count++;
  const active: ActiveConfig = {
    load,
    config,
    allocation,
    groups: mergeGroups(before.groups, removedGroups, fresh),
    groupByIp,
    plans,
    loadedAt: now,
  };
  edits.set(active, { before: new WeakRef(before), removed: [...removedGroups], added: fresh });
  return active;
}

/** How a config activated by activateEdit differs from the one it was made from. */
export interface ConfigEdit {
  readonly before: ActiveConfig;
  readonly removed: readonly VipGroup[];
  readonly added: readonly VipGroup[];
}

/**
 * The edit each config was made by. The config it was made from is held weakly: held strongly, every config
 * kept the one before it alive, and that one its own, so each reload's copies of the 10,000-entry maps stayed
 * for the life of the process (~3.4 MB per reload at 10,000 services; test/unit/config-edit.test.ts).
 */
const edits = new WeakMap<
  ActiveConfig,
  { readonly before: WeakRef<ActiveConfig> } & Omit<ConfigEdit, "before">
>();

/** The edit `active` was made by from `before`, if it was (what follows a reload can then be patched too). */
export function editFrom(active: ActiveConfig, before: ActiveConfig): ConfigEdit | undefined {
  const edit = edits.get(active);
  return edit?.before.deref() === before ? { before, removed: edit.removed, added: edit.added } : undefined;
}

/**
 * The services `config` adds to `before`'s and the keys of those it removes, when every other service is
 * the very object it was (an unchanged document's, from the document cache). Undefined when a service was
 * edited (same key, new object: its previous IPs must be re-validated, which a full run does) or a key is
 * defined twice in either config.
 */
export function serviceEdit(before: ManifestConfig, config: ManifestConfig): ServiceEdit | undefined {
  const beforeIndex = serviceIndex(before);
  if (beforeIndex.size !== before.services.length) return undefined;
  const added: Service[] = [];
  const addedKeys = new Set<string>();
  for (const service of config.services) {
    const old = beforeIndex.get(service.key);
    if (old === service) continue;
    if (old !== undefined || addedKeys.has(service.key)) return undefined;
    added.push(service);
    addedKeys.add(service.key);
  }
  // Every other service is one of before's (unique keys, each object once: a cached document is one
  // object of one file), so the count says whether any was removed; only then are the keys indexed.
  const removed: string[] = [];
  if (config.services.length - added.length < before.services.length) {
    const index = serviceIndex(config);
    if (index.size !== config.services.length) return undefined;
    for (const service of before.services) if (!index.has(service.key)) removed.push(service.key);
  }
  return { added, removed };
}

/** The group vipGroups makes of an assignment whose IPs no other assignment has. */
function singleGroup(a: Assignment): VipGroup {
  return { electionIp: a.ips[0] as string, ips: a.ips, services: [a.service], pool: a.pool };
}

/** `groups` (in election-IP order) less `removed`, with `fresh` (in the same order) merged in. */
function mergeGroups(
  groups: readonly VipGroup[],
  removed: ReadonlySet<VipGroup>,
  fresh: readonly VipGroup[],
): VipGroup[] {
  const out: VipGroup[] = [];
  let next = 0;
  for (const group of groups) {
    if (removed.has(group)) continue;
    for (
      let f = fresh[next];
      f !== undefined && compareText(f.electionIp, group.electionIp) < 0;
      f = fresh[++next]
    )
      out.push(f);
    out.push(group);
  }
  for (let f = fresh[next]; f !== undefined; f = fresh[++next]) out.push(f);
  return out;
}

/**
 * advertisedInterfaces(active, labels), made from `vips`, the map for `edit.before` with the same labels:
 * the groups the edit left alone follow the same advertisements (an edit keeps them equal). Also says which
 * VIPs were added and removed (EligibilityTracker.setVips takes that instead of comparing every entry).
 */
export function editedAdvertisedInterfaces(
  vips: ReadonlyMap<string, readonly string[]>,
  active: ActiveConfig,
  labels: Labels,
  edit: ConfigEdit,
): { vips: Map<string, readonly string[]>; added: string[]; removed: string[] } {
  const patched = new Map(vips);
  const removed = edit.removed.flatMap((group) => group.ips);
  for (const ip of removed) patched.delete(ip);
  const added: string[] = [];
  for (const group of edit.added) {
    const interfaces = advertisedInterfacesOf(active, labels, group);
    for (const ip of group.ips) {
      patched.set(ip, interfaces);
      added.push(ip);
    }
  }
  return { vips: patched, added, removed };
}
