// Counters for metrics and tests: traffic by direction and message type, drops by reason.
import { MESSAGE_TYPES, type MessageType } from "./codec";

export const REJECT_REASONS = [
  "oversized",
  "truncated",
  /** Failed authentication with every key (wrong key, wrong cluster label, forged, corrupted). */
  "decrypt",
  /** Plaintext packet while we require encryption. */
  "plaintext",
  /** Encrypted packet while we run insecure (no key). */
  "encrypted",
  /** Insecure mode: other cluster label. */
  "label",
  "malformed",
  "replay",
  "stale-epoch",
  /** A packet claiming to come from ourselves. */
  "self",
  /** A handler failed on a well-formed packet (a bug, counted instead of crashing). */
  "internal",
  /** From a member refused for its versions (only its own alive news is still read, to notice an upgrade). */
  "refused",
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export interface GossipStats {
  packetsOut: number;
  bytesOut: number;
  packetsIn: number;
  bytesIn: number;
  messagesOut: Record<MessageType, number>;
  messagesIn: Record<MessageType, number>;
  /** Encoded message bytes by type (packet header and encryption overhead are only in bytesOut/In). */
  messageBytesOut: Record<MessageType, number>;
  messageBytesIn: Record<MessageType, number>;
  rejected: Record<RejectReason, number>;
  refutes: number;
  /** Refutes of accusations raised by a member while it was the one cut off (not counted in local health). */
  staleRefutes: number;
  suspicionsRaised: number;
  deadDeclared: number;
  /** Suspicion timers that ran out while we still heard the suspect (our own evidence withheld the verdict). */
  verdictsWithheld: number;
  stallsDetected: number;
  /** Total time our own timers ran late (ms): silence in it is not held against peers. */
  blindMs: number;
  awareness: number;
  /** Members refused because their version range does not overlap ours. */
  membersRefused: number;
  /** The gossip protocol version and metadata format this node speaks now (negotiated). */
  protocolVersion: number;
  metadataVersion: number;
  /**
   * Per watched live member, the silence (ms) after which it is declared failed right now: failureTimeoutMs,
   * or more while its recent gaps were long (gap-history.ts). For `vipd status`; empty in 0.1.0-era snapshots.
   */
  verdictTimeoutsMs: Record<string, number>;
}

function zeros<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

export function newStats(): GossipStats {
  return {
    packetsOut: 0,
    bytesOut: 0,
    packetsIn: 0,
    bytesIn: 0,
    messagesOut: zeros(MESSAGE_TYPES),
    messagesIn: zeros(MESSAGE_TYPES),
    messageBytesOut: zeros(MESSAGE_TYPES),
    messageBytesIn: zeros(MESSAGE_TYPES),
    rejected: zeros(REJECT_REASONS),
    refutes: 0,
    staleRefutes: 0,
    suspicionsRaised: 0,
    deadDeclared: 0,
    verdictsWithheld: 0,
    stallsDetected: 0,
    blindMs: 0,
    awareness: 0,
    membersRefused: 0,
    protocolVersion: 0,
    verdictTimeoutsMs: {},
    metadataVersion: 0,
  };
}

export function totalRejected(s: GossipStats): number {
  return Object.values(s.rejected).reduce((a, b) => a + b, 0);
}
