// Someone else's ARP or NA claims an IP this node holds. The planner's answerHeldClaim decides what it calls
// for (pure: lib/plan/held-claims.ts); this edge carries the answer out: the log line, the conflict book and
// its counter, the event, the re-announcement and the step that follows.
import type { ClaimOrigin } from "../net/arp-conflict";
import type { ObservedClaim } from "../net/conflict-monitor";
import { answerHeldClaim } from "../plan/held-claims";
import type { PlanEvent, PlannerMemory } from "../plan/types";
import type { ConflictBook } from "./conflict-book";
import type { Logger } from "./log";

/** What handling a claim reads and does, from the daemon. */
export interface HeldClaimContext {
  readonly stopping: () => boolean;
  /** The addresses this node holds (the applier's wanted set). */
  readonly held: () => ReadonlyMap<string, string>;
  readonly ready: () => boolean;
  readonly memberState: (name: string) => string | undefined;
  readonly electionIpOf: (ip: string) => string | undefined;
  readonly originOf: (mac: string) => ClaimOrigin;
  readonly memory: PlannerMemory;
  readonly conflicts: ConflictBook;
  readonly log: Logger;
  readonly conflictCounted: (ip: string) => void;
  readonly planEvent: (event: PlanEvent) => void;
  readonly reannounce: (ips: readonly string[], why: string) => void;
  readonly scheduleStep: () => void;
}

export function handleHeldClaim(claim: ObservedClaim, c: HeldClaimContext): void {
  if (c.stopping()) return;
  const answer = answerHeldClaim(
    { ip: claim.ip, mac: claim.mac, origin: c.originOf(claim.mac) },
    {
      held: c.held(),
      ready: c.ready(),
      memberState: c.memberState,
      knownForeignMac: c.conflicts.held.get(claim.ip)?.mac,
      electionIp: c.electionIpOf(claim.ip),
    },
    c.memory,
  );
  if (answer.kind === "ignore") return;
  if (answer.kind === "handedOver") {
    c.log.log("info", "handoverAnnounced", `${claim.ip}: ${answer.to} announced it`, {
      ip: claim.ip,
      to: answer.to,
    });
    c.scheduleStep();
    return;
  }
  if (answer.kind === "foreign") {
    const isNew = c.conflicts.heldClaim(claim.ip, claim.mac, performance.now(), Date.now());
    if (isNew) c.conflictCounted(claim.ip);
    if (answer.event) c.planEvent(answer.event);
  }
  if (answer.announcement) c.reannounce(answer.announcement.ips, answer.announcement.cause);
  // Answering a 0.1.0 holder's counter-announcement lets a takeover from it step forward (see the plan).
  if (answer.kind === "reannounce") c.scheduleStep();
}
