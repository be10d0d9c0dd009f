// The daemon's events: each one is a log line (at the level event-level.ts gives its reason) and, for the last
// MAX_EVENTS, an entry of `/status` and `vipd status`, which is what an operator reads first.
import type { ApplyResult } from "../net/address-applier";
import type { PlanEvent } from "../plan/types";
import { eventLevel } from "./event-level";
import type { Logger, LogLevel } from "./log";
import type { StatusEvent } from "./status-types";

/** How many recent events `/status` keeps. */
export const MAX_EVENTS = 50;

export class EventLog {
  private readonly entries: StatusEvent[] = [];

  constructor(private readonly log: Logger) {}

  /** The recent events, oldest first. */
  recent(): readonly StatusEvent[] {
    return this.entries;
  }

  /** An event the planner decided: a plain log line, or an event. */
  fromPlan(e: PlanEvent): void {
    if (e.level === "log") this.log.log("info", e.reason, e.message, e.fields);
    else this.event(e.reason, e.message, e.fields, e.service, e.ip, e.quiet === true ? "debug" : undefined);
  }

  event(
    reason: string,
    message: string,
    fields: Readonly<Record<string, string | undefined>> = {},
    service?: string,
    ip?: string,
    level: LogLevel = eventLevel(reason),
  ): void {
    this.log.log(level, reason, message, fields);
    this.entries.push({
      time: new Date().toISOString(),
      reason,
      message,
      ...(service ? { service } : {}),
      ...(ip ? { ip } : {}),
    });
    if (this.entries.length > MAX_EVENTS) this.entries.shift();
  }
}

/** One line per address the kernel took, gave back or refused (an address added in a takeover included). */
export function logAddressChanges(log: Logger, result: ApplyResult): void {
  for (const added of result.added) {
    const event = added.repaired ? "addressRepaired" : "addressAdded";
    log.log("info", event, `${added.ip} on ${added.ifname}`, { ip: added.ip, interface: added.ifname });
  }
  for (const removed of result.removed)
    log.log("info", "addressRemoved", `${removed.ip} from ${removed.ifname}`, { ip: removed.ip });
  for (const failed of result.failed)
    log.log("warn", "addressFailed", `${failed.ip} on ${failed.ifname}: ${failed.error}`, { ip: failed.ip });
}
