// What this node answers when someone else's ARP or NA claims an IP it holds: its own frames are ignored; the
// member it is handing the IP to ends the hand-over; a live member that lost the election gets one burst from
// the winner (every time, for a 0.1.0 holder being taken over); a foreign device is reported and answered once,
// never fought. Pure, like the planner whose memory it reads and updates.
import type { Announcement, PlanEvent, PlannerMemory } from "./types";

/** What a claim on the wire for an IP this node holds calls for (see answerHeldClaim). */
export type HeldClaimAnswer =
  | { readonly kind: "ignore" }
  /** The member this node is handing the IP over to announced it: let go now (a pass decides). */
  | { readonly kind: "handedOver"; readonly to: string }
  /** A live member still answers although it lost the election: one burst from us, the winner. */
  | { readonly kind: "reannounce"; readonly announcement: Announcement }
  /** A foreign device: reported, answered with one more burst when first seen, never fought. */
  | { readonly kind: "foreign"; readonly announcement?: Announcement; readonly event?: PlanEvent };

/**
 * Someone else's ARP claims an IP this node holds. `origin` is who sent it (claimOrigin);
 * `knownForeignMac` is the foreign device already recorded for this IP, if any.
 */
export function answerHeldClaim(
  claim: {
    readonly ip: string;
    readonly mac: string;
    readonly origin:
      | { readonly kind: "self" }
      | { readonly kind: "member"; readonly member: string }
      | { readonly kind: "foreign" };
  },
  context: {
    readonly held: ReadonlyMap<string, string>;
    readonly ready: boolean;
    readonly memberState: (name: string) => string | undefined;
    readonly knownForeignMac: string | undefined;
    readonly electionIp: string | undefined;
  },
  memory: PlannerMemory,
): HeldClaimAnswer {
  if (!context.held.has(claim.ip)) return { kind: "ignore" };
  const origin = claim.origin;
  if (origin.kind === "self") return { kind: "ignore" };
  const handover = context.electionIp === undefined ? undefined : memory.handovers.get(context.electionIp);
  if (handover !== undefined && origin.kind === "member") {
    // The new owner's announcement: clients now go to it, so this node may let go (no answer: it won).
    if (origin.member !== handover.to || handover.announced) return { kind: "ignore" };
    handover.announced = true;
    return { kind: "handedOver", to: origin.member };
  }
  const ready = context.ready;
  if (origin.kind === "member") {
    const legacy =
      context.electionIp === undefined ? undefined : memory.legacyTakeovers.get(context.electionIp);
    if (legacy?.holder === origin.member && ready) {
      // The 0.1.0 holder's counter-announcement: answer it every time until we step forward.
      legacy.answered = true;
      return {
        kind: "reannounce",
        announcement: { ips: [claim.ip], cause: `member ${origin.member} still answers for it` },
      };
    }
    const key = `${claim.ip}|${origin.member}`;
    if (context.memberState(origin.member) !== "alive" || memory.memberClaimsAnswered.has(key))
      return { kind: "ignore" };
    memory.memberClaimsAnswered.add(key);
    if (!ready) return { kind: "ignore" };
    return {
      kind: "reannounce",
      announcement: { ips: [claim.ip], cause: `member ${origin.member} still answers for it` },
    };
  }
  if (context.knownForeignMac === claim.mac) return { kind: "foreign" };
  return {
    kind: "foreign",
    event: {
      level: "event",
      reason: "addressConflict",
      message: `${claim.ip} held by this node is also claimed by ${claim.mac} (not a cluster member): announcing once more, then only reporting`,
      fields: { ip: claim.ip, mac: claim.mac },
      ...(context.electionIp !== undefined ? { ip: context.electionIp } : {}),
    },
    ...(ready ? { announcement: { ips: [claim.ip], cause: `foreign device ${claim.mac} claimed it` } } : {}),
  };
}
