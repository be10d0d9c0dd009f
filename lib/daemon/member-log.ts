// What a membership change says in the log and the events: a join or a failure is an event an operator reads;
// the last sign of life of a failed member and a peer's new metadata are debug lines that explain a slow
// failover or a change of owner. Returns when the event counts as having happened for the failover clock.
import type { MemberView } from "../gossip/memberlist";
import type { MemberEvent } from "../plan/types";
import type { EventLog } from "./event-log";
import type { Logger } from "./log";

export function logMemberEvent(
  log: Logger,
  events: EventLog,
  event: MemberEvent["kind"],
  member: MemberView,
  now: number,
): number {
  let at = now;
  if (event === "dead" || event === "leave") {
    // Failover time starts at the owner's last packet heard here, not at the verdict: detection is part of it.
    at -= member.silentForMs ?? 0;
    log.log(
      "debug",
      "lastSignOfLife",
      member.silentForMs === undefined
        ? `${member.name}: never heard directly; failover time counts from now`
        : `${member.name}: last packet heard ${Math.round(member.silentForMs)} ms before it was declared ${event === "leave" ? "left" : "dead"}`,
      { node: member.name },
    );
  }
  if (event === "metadata")
    log.log("debug", "memberMetadata", `${member.name} published new metadata`, {
      node: member.name,
      digest: member.metadataDigest.slice(0, 12),
    });
  else
    events.event(
      `member${event[0]?.toUpperCase()}${event.slice(1)}`,
      `${member.name} (${member.addr}) is ${member.state}`,
    );
  return at;
}

/** Lifeguard score from which this node's own slowness stretches detection ×4 or more: worth a warning. */
const LOCAL_HEALTH_WARN_SCORE = 3;

/**
 * A score above 0 stretches detection. Every move is logged at debug (with its cause, which explains a slow
 * failover); crossing LOCAL_HEALTH_WARN_SCORE is a warning and coming back under it is info, so a busy
 * machine's 0-1-0 flutter does not fill the log at the default level.
 */
export function localHealthLogger(log: Logger): (score: number, cause: string) => void {
  let degraded = false;
  return (score, cause) => {
    const now = score >= LOCAL_HEALTH_WARN_SCORE;
    const level = now === degraded ? "debug" : now ? "warn" : "info";
    degraded = now;
    log.log(level, "localHealth", `local health score ${score} (${cause})`, { cause, score });
  };
}
