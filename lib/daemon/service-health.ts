// Health checks per VIP: which services on each IP have a check, and the HealthView the planner reads
// ("is every checked service on this IP up here?"). The checks themselves run in lib/health/monitor.ts.
import { serviceIndex, type VipGroup } from "../election/election";
import type { HealthEntry, HealthMonitor } from "../health/monitor";
import type { HealthState } from "../health/state";
import type { HealthCheckSpec } from "../health/spec";
import type { ManifestConfig } from "../config/types";
import type { HealthView, PlanEvent } from "../plan/types";

export class ServiceHealth implements HealthView {
  /** ip -> the services on it that have a health check. */
  private checkedByIp = new Map<string, string[]>();

  constructor(readonly monitor: HealthMonitor) {}

  /** Runs the checks of the services that have an IP; every node runs them, owner or not. */
  setConfig(config: ManifestConfig, groups: readonly VipGroup[]): void {
    const specs = new Map<string, HealthCheckSpec>();
    const byIp = new Map<string, string[]>();
    // The usual config has no check at all: no walk over every group's services (10,000 at scale).
    const checked = config.services.some((s) => s.healthCheck !== undefined) ? groups : [];
    const services = serviceIndex(config); // built once per config: the reload's election uses it too
    for (const group of checked) {
      for (const key of group.services) {
        const spec = services.get(key)?.healthCheck;
        if (!spec) continue;
        specs.set(key, spec);
        for (const ip of group.ips) byIp.set(ip, [...(byIp.get(ip) ?? []), key]);
      }
    }
    this.checkedByIp = byIp;
    this.monitor.setChecks(specs);
  }

  checked(ip: string): boolean {
    return this.checkedByIp.has(ip);
  }

  unhealthyReason(ip: string): string | undefined {
    for (const service of this.checkedByIp.get(ip) ?? []) {
      const entry = this.monitor.state(service);
      if (!entry || entry.state.status === "up") continue;
      return entry.state.status === "pending"
        ? `health check ${entry.spec.text} of ${service} has no result yet`
        : `health check ${entry.spec.text} failing: ${entry.state.detail ?? "failed"}`;
    }
    return undefined;
  }
}

/** The event a check's status change is worth: failing, or passing again after failing. */
export function healthChangeEvent(entry: HealthEntry, previous: HealthState): PlanEvent | undefined {
  const fields = { service: entry.service, check: entry.spec.text };
  const base = { level: "event" as const, fields, service: entry.service };
  if (entry.state.status === "down")
    return {
      ...base,
      reason: "healthCheckFailing",
      message: `health check ${entry.spec.text} of ${entry.service} failing: ${entry.state.detail ?? "failed"}`,
    };
  if (entry.state.status === "up" && previous.status === "down")
    return {
      ...base,
      reason: "healthCheckPassing",
      message: `health check ${entry.spec.text} of ${entry.service} passes again`,
    };
  return undefined;
}
