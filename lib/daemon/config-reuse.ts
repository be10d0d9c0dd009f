// Object reuse across a reload. A reload usually edits one object of thousands; the services the edit left
// alone come out of the parse as the very objects of the config before (the document cache), keep their
// IPs (the allocator keeps every previous assignment the config allows), and so form the same VIP groups. Those
// groups keep their objects and election plans (with the election hashes already computed) instead of being
// planned again: at 10,000 services that was ~90 ms of main-thread CPU per reload, spent right when the new
// VIP waits for its election. Pure.
import { canonicalJson } from "../config/digest";
import type { ManifestConfig } from "../config/types";
import { serviceIndex, type GroupPlan, type VipGroup } from "../election/election";
import { sameList } from "../plan/compare";

/** The parts of the config in force a new config may take over. */
export interface ReusableConfig {
  readonly config: ManifestConfig;
  readonly groupByIp: ReadonlyMap<string, VipGroup>;
  readonly plans: ReadonlyMap<string, GroupPlan>;
}

export interface Reuse {
  /** The earlier group equal to `group` (same election IP, IPs, services, pool, identical services), if any. */
  group(group: VipGroup): VipGroup | undefined;
  /** The earlier plan of a group `group()` returned. */
  plan(group: VipGroup): GroupPlan | undefined;
}

/**
 * What `config` may take over from `before`. A plan depends on the group, its services and the
 * advertisements (lib/election/election.ts planGroup): with advertisements that differ in anything, no
 * plan is reused; a service object that is not the identical one (edited, or parsed afresh) makes its group
 * new.
 */
export function reuseFrom(before: ReusableConfig, config: ManifestConfig): Reuse {
  const sameAds = canonicalJson(before.config.advertisements) === canonicalJson(config.advertisements);
  const beforeServices = serviceIndex(before.config);
  const services = serviceIndex(config);
  return {
    group(group) {
      if (!sameAds) return undefined;
      const old = before.groupByIp.get(group.electionIp);
      if (
        old === undefined ||
        old.electionIp !== group.electionIp ||
        old.pool !== group.pool ||
        !sameList(old.ips, group.ips) ||
        !sameList(old.services, group.services) ||
        before.plans.get(old.electionIp)?.group !== old
      )
        return undefined;
      for (const key of group.services) {
        const service = services.get(key);
        if (service === undefined || service !== beforeServices.get(key)) return undefined;
      }
      return old;
    },
    plan(group) {
      const plan = before.plans.get(group.electionIp);
      return plan?.group === group ? plan : undefined;
    },
  };
}
