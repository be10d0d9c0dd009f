// How loud each daemon event is. journald files every entry at its level's priority, so an operator's
// `journalctl -u vipd -p warning` shows exactly what needs a look: a peer died, quorum or an address was lost,
// a config edit was rejected. Events not listed are routine (info).
import type { LogLevel } from "./log";

const EVENT_LEVELS: Readonly<Record<string, LogLevel>> = {
  // A peer stopped answering (a graceful leave is memberLeave, info).
  memberDead: "warn",
  // A member whose gossip versions do not overlap this node's (a release skipped): it stays out.
  memberRefused: "warn",
  // This node released every VIP: it no longer sees a majority.
  quorumLost: "warn",
  // A device that is not a member holds (or claims) a VIP.
  addressConflict: "warn",
  // The kernel refused to add or remove a VIP.
  addressFailed: "warn",
  // Nobody announces an IP: an outage for that service.
  announceWithdrawn: "warn",
  healthCheckFailing: "warn",
  AllocationFailed: "warn",
  // An edit that does not load: the daemon keeps its last good config.
  configInvalid: "error",
};

export function eventLevel(reason: string): LogLevel {
  return EVENT_LEVELS[reason] ?? "info";
}
