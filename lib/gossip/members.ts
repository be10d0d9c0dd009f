// The membership state machine's decisions as pure functions (SWIM incarnation rules, memberlist-style):
// given what we know about a member and an incoming claim, what should happen. No I/O, no timers; the
// Memberlist applies the outcome (emits events, starts suspicion timers, broadcasts).
import type { MemberStateName } from "./codec";
import type { MemberMetadata } from "./metadata";
import type { MemberVersions } from "./version";

/** A member that may still be serving: alive, or suspect (not yet declared dead). */
export function isLive(state: MemberStateName): boolean {
  return state === "alive" || state === "suspect";
}

export interface MemberRecord {
  name: string;
  addr: string;
  state: MemberStateName;
  incarnation: number;
  metaDigest: string;
  /** Encoded record whose digest is metaDigest (absent while being fetched). */
  metaEncoded: Buffer | undefined;
  /** Last decoded record (may lag metaDigest briefly while a new one is fetched). */
  meta: MemberMetadata | undefined;
  /** What its last decoded record advertised (LEGACY_VERSIONS for a record without a vector). */
  versions?: MemberVersions;
  /** Clock time of the last state change. */
  since: number;
  /** Clock time it last came back from dead or left (undefined if it never did). */
  returnedAt?: number;
}

export type AliveDecision =
  | "ignore"
  /** Someone claims a newer incarnation of us (our previous life): out-bid it. */
  | "refute"
  | "new"
  /** Known dead or left, now alive at a higher incarnation. */
  | "rejoin"
  /** Suspect, refuted by the member itself. */
  | "recover"
  /** Alive already; newer incarnation (metadata or address change). */
  | "update";

export function decideAlive(
  current: MemberRecord | undefined,
  incarnation: number,
  isLocal: boolean,
  localIncarnation: number,
  metaDigest: string,
  localDigest: string,
): AliveDecision {
  if (isLocal) {
    if (incarnation > localIncarnation || (incarnation === localIncarnation && metaDigest !== localDigest))
      return "refute";
    return "ignore";
  }
  if (!current) return "new";
  if (incarnation <= current.incarnation) return "ignore";
  if (current.state === "dead" || current.state === "left") return "rejoin";
  if (current.state === "suspect") return "recover";
  return "update";
}

export type SuspectDecision = "ignore" | "refute" | "confirm" | "suspect";

export function decideSuspect(
  current: MemberRecord | undefined,
  incarnation: number,
  isLocal: boolean,
  localIncarnation: number,
): SuspectDecision {
  if (isLocal) return incarnation >= localIncarnation ? "refute" : "ignore";
  if (!current || incarnation < current.incarnation) return "ignore";
  if (current.state === "suspect") return "confirm";
  if (current.state !== "alive") return "ignore";
  return "suspect";
}

export type DeadDecision = "ignore" | "refute" | "dead" | "left";

/** `from === name` is a graceful leave. */
export function decideDead(
  current: MemberRecord | undefined,
  incarnation: number,
  from: string,
  isLocal: boolean,
  localIncarnation: number,
  leaving: boolean,
): DeadDecision {
  if (isLocal) return !leaving && incarnation >= localIncarnation ? "refute" : "ignore";
  if (!current || incarnation < current.incarnation) return "ignore";
  const isLeave = current.name === from;
  if (current.state === "left") return "ignore";
  if (current.state === "dead") return isLeave ? "left" : "ignore";
  return isLeave ? "left" : "dead";
}
