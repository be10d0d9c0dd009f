// Every timer and knob of the gossip layer, in one object per profile (memberlist style), so tuning is one
// place and the daemon can print what it runs with.
//
// Failure detection has one knob, failureTimeoutMs (settings: cluster.failureTimeoutMs), in the spirit of
// keepalived's advert_int: a member that a watcher has not heard from for that long, while the watcher's own
// event loop was running, is declared failed. Everything else on the detection path follows from it
// (detectionTimings): heartbeats every failureTimeoutMs/6, suspicion (and direct pings, and telling the
// suspect so it can refute) after 4 silent heartbeat intervals, the verdict after 6. At the lan default of
// 150 ms (25 ms heartbeats) a false verdict needs ~6 heartbeats in a row lost *and* every ping/ack of the
// suspicion window lost: about 1e-5 × 0.19^4 ≈ 1e-8 per window at 10% loss, where keepalived's 3 adverts
// at 100 ms give 1e-3. `wan` relaxes everything roughly like memberlist's WAN profile (3 s).

export type GossipProfileName = "lan" | "wan";

/** The failure-detection timings one failureTimeoutMs implies (see the file comment). */
export interface DetectionTimings {
  /** A member silent this long (as seen by a watcher whose own loop ran) is declared failed. */
  readonly failureTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly suspicionMinMs: number;
  readonly suspicionMaxMs: number;
}

/** Bounds of cluster.failureTimeoutMs: 60 ms = 10 ms heartbeats (keepalived's floor too); 60 s = WAN-ish. */
export const FAILURE_TIMEOUT_MIN_MS = 60;
export const FAILURE_TIMEOUT_MAX_MS = 60_000;
/** Heartbeats per failure timeout: the verdict needs about this many in a row to be lost. */
export const HEARTBEATS_PER_FAILURE_TIMEOUT = 6;
/** Silent heartbeat intervals before a watcher suspects (starts pinging, tells the suspect). */
export const HEARTBEATS_BEFORE_SUSPICION = 4;

export function detectionTimings(failureTimeoutMs: number): DetectionTimings {
  if (
    !Number.isFinite(failureTimeoutMs) ||
    failureTimeoutMs < FAILURE_TIMEOUT_MIN_MS ||
    failureTimeoutMs > FAILURE_TIMEOUT_MAX_MS
  )
    throw new Error(
      `gossip config: failureTimeoutMs ${failureTimeoutMs} is out of range ${FAILURE_TIMEOUT_MIN_MS}..${FAILURE_TIMEOUT_MAX_MS}`,
    );
  const heartbeatIntervalMs = failureTimeoutMs / HEARTBEATS_PER_FAILURE_TIMEOUT;
  const heartbeatTimeoutMs = heartbeatIntervalMs * HEARTBEATS_BEFORE_SUSPICION;
  return {
    failureTimeoutMs,
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
    suspicionMinMs: failureTimeoutMs - heartbeatTimeoutMs,
    // An unconfirmed suspicion (one watcher alone, N ≥ 3) leaves the suspect this long to refute.
    suspicionMaxMs: failureTimeoutMs * 10,
  };
}

export interface GossipConfig {
  readonly profile: GossipProfileName;

  // --- Fast path: direct heartbeats to a few ring successors ---------------------------------------------
  /** The detection knob; the four timings below follow from it (detectionTimings). */
  readonly failureTimeoutMs: number;
  /** How often a member sends a tiny heartbeat to each of its observers. */
  readonly heartbeatIntervalMs: number;
  /**
   * Silence from a watched peer for this long (× local-health multiplier) makes us suspect it: we ping it
   * every heartbeat interval and tell it, so it can refute. The verdict still waits for failureTimeoutMs.
   */
  readonly heartbeatTimeoutMs: number;
  /** How many ring successors watch each member (all others when N−1 is smaller). Must exceed suspicionConfirmations. */
  readonly heartbeatObservers: number;
  /** A timer firing this late is counted as a stall (stats); one longer than heartbeatTimeoutMs also raises local health. */
  readonly stallThresholdMs: number;

  // --- SWIM probe (second detector, local-health signals) ----------------------------------------------
  /** One probe per interval over a shuffled round-robin list (× local-health multiplier). */
  readonly probeIntervalMs: number;
  /** Wait this long for a direct ack before asking helpers (× local-health multiplier). */
  readonly probeTimeoutMs: number;
  /** Helpers asked to ping-req a silent target. */
  readonly indirectChecks: number;

  // --- Suspicion (Lifeguard) ----------------------------------------------------------------------------
  /**
   * Suspicion timeout once enough independent observers agree (or at once with 2 members); scaled by
   * max(1, log10 N). Our own verdict additionally needs failureTimeoutMs of silence we observed ourselves.
   */
  readonly suspicionMinMs: number;
  /** Suspicion timeout with no confirmation (the suspect has this long to refute); scaled by max(1, log10 N). */
  readonly suspicionMaxMs: number;
  /** Independent confirmations wanted to collapse the timeout to its minimum (capped at N−2). */
  readonly suspicionConfirmations: number;

  // --- Local health (Lifeguard awareness) ---------------------------------------------------------------
  /** Saturating multiplier bound: timeouts stretch up to this factor when we are the slow one. */
  readonly awarenessMaxMultiplier: number;
  /** A refute forced by a member that came back from dead within this long does not raise our score. */
  readonly staleAccusationMs: number;

  // --- Dissemination ------------------------------------------------------------------------------------
  /** Gossip round: queued broadcasts go to gossipNodes random members. */
  readonly gossipIntervalMs: number;
  /** Fan-out of gossip rounds and of the immediate push of fresh news. */
  readonly gossipNodes: number;
  /** Each broadcast is sent retransmitMult × ceil(log10(N+1)) times. */
  readonly retransmitMult: number;
  /** Up to this many members are told news directly at once (all of them in small clusters). */
  readonly directBroadcastMax: number;

  // --- Anti-entropy, join, reconnect, leave -------------------------------------------------------------
  /** Full-state push-pull with one random peer (scaled up above 32 members like memberlist). */
  readonly pushPullIntervalMs: number;
  /** One push-pull attempt with a random dead (not left) member per interval, so partitions heal. */
  readonly reconnectIntervalMs: number;
  /** Dead members are kept (and retried) this long, then forgotten. */
  readonly deadRetentionMs: number;
  /** First join retry delay while alone; doubles up to joinRetryMaxMs. */
  readonly joinRetryInitialMs: number;
  readonly joinRetryMaxMs: number;
  /** leave() waits this long for the leave broadcast to spread before returning. */
  readonly leavePropagateMs: number;

  // --- Metadata -----------------------------------------------------------------------------------------
  /** Encoded metadata up to this size rides inside alive messages; bigger is fetched in chunks. */
  readonly metadataInlineMaxBytes: number;
  /** Retry a missing metadata chunk after this long. */
  readonly metadataRetryMs: number;
  /** Give up fetching a record after this many rounds (a later alive/push-pull restarts it). */
  readonly metadataMaxRetries: number;
  /** Largest accepted encoded (compressed) metadata record. */
  readonly metadataMaxBytes: number;

  // --- Packets & anti-replay ----------------------------------------------------------------------------
  /** Largest UDP payload sent or accepted (keeps under a 1500-byte MTU with IP/UDP headers). */
  readonly maxPacketBytes: number;
  /** Per-sender sliding window of accepted sequence numbers. */
  readonly replayWindow: number;
  /** A lower sender epoch (a restart with a clock that went backwards) is accepted after this long without packets from the current epoch. */
  readonly replayEpochStaleMs: number;
}

export const LAN: GossipConfig = Object.freeze({
  profile: "lan",
  ...detectionTimings(150),
  heartbeatObservers: 4,
  stallThresholdMs: 50,
  probeIntervalMs: 500,
  probeTimeoutMs: 100,
  indirectChecks: 3,
  suspicionConfirmations: 2,
  awarenessMaxMultiplier: 8,
  staleAccusationMs: 3_000,
  gossipIntervalMs: 50,
  gossipNodes: 3,
  retransmitMult: 4,
  directBroadcastMax: 16,
  pushPullIntervalMs: 15_000,
  reconnectIntervalMs: 500,
  deadRetentionMs: 3_600_000,
  joinRetryInitialMs: 250,
  joinRetryMaxMs: 10_000,
  leavePropagateMs: 150,
  metadataInlineMaxBytes: 600,
  metadataRetryMs: 100,
  metadataMaxRetries: 20,
  metadataMaxBytes: 4 * 1024 * 1024,
  maxPacketBytes: 1400,
  replayWindow: 1024,
  replayEpochStaleMs: 10_000,
});

export const WAN: GossipConfig = Object.freeze({
  profile: "wan",
  ...detectionTimings(3_000),
  heartbeatObservers: 4,
  stallThresholdMs: 1_000,
  probeIntervalMs: 5_000,
  probeTimeoutMs: 3_000,
  indirectChecks: 3,
  suspicionConfirmations: 2,
  awarenessMaxMultiplier: 8,
  staleAccusationMs: 30_000,
  gossipIntervalMs: 500,
  gossipNodes: 4,
  retransmitMult: 4,
  directBroadcastMax: 8,
  pushPullIntervalMs: 60_000,
  reconnectIntervalMs: 10_000,
  deadRetentionMs: 24 * 3_600_000,
  joinRetryInitialMs: 1_000,
  joinRetryMaxMs: 60_000,
  leavePropagateMs: 1_000,
  metadataInlineMaxBytes: 600,
  metadataRetryMs: 1_000,
  metadataMaxRetries: 20,
  metadataMaxBytes: 4 * 1024 * 1024,
  maxPacketBytes: 1400,
  replayWindow: 1024,
  replayEpochStaleMs: 60_000,
});

/**
 * A profile with overrides. An overriding failureTimeoutMs brings its detection timings with it (other
 * overrides still win over those), so `{ failureTimeoutMs: 300 }` is all a keepalived-style tuning needs.
 */
export function gossipProfile(name: GossipProfileName, overrides: Partial<GossipConfig> = {}): GossipConfig {
  const profile = name === "wan" ? WAN : LAN;
  const base =
    overrides.failureTimeoutMs === undefined
      ? profile
      : { ...profile, ...detectionTimings(overrides.failureTimeoutMs) };
  const merged: GossipConfig = { ...base, ...overrides };
  if (merged.heartbeatObservers <= merged.suspicionConfirmations)
    throw new Error("gossip config: heartbeatObservers must exceed suspicionConfirmations");
  if (merged.heartbeatTimeoutMs <= merged.heartbeatIntervalMs)
    throw new Error("gossip config: heartbeatTimeoutMs must exceed heartbeatIntervalMs");
  if (merged.failureTimeoutMs < merged.heartbeatTimeoutMs)
    throw new Error("gossip config: failureTimeoutMs must be at least heartbeatTimeoutMs");
  return Object.freeze(merged);
}

/** max(1, log10 N): memberlist's suspicion scale (the code uses log10 N, not the commented log(N+1)). */
export function suspicionScale(n: number): number {
  return Math.max(1, Math.log10(Math.max(1, n)));
}

/** memberlist: RetransmitMult × ceil(log10(N+1)). */
export function retransmitLimit(mult: number, n: number): number {
  return mult * Math.ceil(Math.log10(n + 1));
}

/** memberlist: push-pull interval × (ceil(log2 N − log2 32) + 1) above 32 members. */
export function pushPullScale(n: number): number {
  return n <= 32 ? 1 : Math.ceil(Math.log2(n) - Math.log2(32)) + 1;
}
