// The `/status` document: what `vipd status` prints. Plain JSON so other tools can read it too.
import type { CandidateVerdict } from "../election/election";

export interface StatusVip {
  /** The IP elected on (first IP of the group); `ips` holds all that move with it. */
  readonly ip: string;
  readonly ips: readonly string[];
  readonly services: readonly string[];
  readonly pool: string;
  readonly owner: string | null;
  readonly interface: string | null;
  /** ISO time this node first saw the current owner. */
  readonly since: string | null;
  readonly ranking: readonly CandidateVerdict[];
  /** Why nobody announces it, when `owner` is null. */
  readonly reason?: string;
  /**
   * When this node is the elected owner (intended): whether its kernel holds every IP of the group now
   * (observed), and why not. Absent for VIPs other nodes own, and from daemons that predate it.
   */
  readonly held?: boolean;
  readonly divergence?: string;
}

/** This node's intended VIPs (won in the election) against the observed ones (in the kernel). */
export interface StatusHolding {
  readonly intended: number;
  readonly observed: number;
  readonly divergences: readonly { ip: string; interface: string; reason: string; seconds: number }[];
  /** VIPs this node gave up because it cannot add them, and why (gossiped as ineligible). */
  readonly givenUp: readonly { ip: string; reason: string }[];
}

export interface StatusMember {
  readonly name: string;
  readonly address: string;
  readonly state: string;
  readonly incarnation: number;
  readonly manifestDigest: string;
  readonly vips: number;
  readonly self: boolean;
  readonly configMismatch: boolean;
  /**
   * Silence (ms) after which this node would declare the member failed, now: the configured failureTimeoutMs,
   * or more while the member's recent heartbeat gaps were long (learned, capped at twice it). Absent for
   * this node itself and for members this node does not watch.
   */
  readonly failedAfterMs?: number;
  /** The member's vipd release ("0.1.0" for a member that advertises none); absent until its metadata came. */
  readonly version?: string;
  /** Gossip protocol and metadata version ranges it advertised, with the ones it speaks now. */
  readonly versions?: {
    readonly protocol: { readonly min: number; readonly max: number; readonly current: number };
    readonly metadata: { readonly min: number; readonly max: number; readonly current: number };
  };
}

export interface StatusEvent {
  readonly time: string;
  readonly reason: string;
  readonly message: string;
  readonly ip?: string;
  readonly service?: string;
}

export interface DaemonStatus {
  readonly node: string;
  readonly version: string;
  readonly startedAt: string;
  readonly ready: boolean;
  /** Why `ready` is false although the node joined, e.g. it can hold none of its VIPs. */
  readonly notReadyReason?: string;
  readonly config: {
    readonly loaded: boolean;
    readonly stale: boolean;
    readonly lastReload: string | null;
    readonly digest: string;
    readonly errors: readonly string[];
  };
  readonly members: readonly StatusMember[];
  readonly vips: readonly StatusVip[];
  readonly allocationErrors: readonly { service: string; message: string }[];
  readonly warnings: readonly string[];
  /** Intended vs observed on this node (absent from daemons that predate it). */
  readonly holding?: StatusHolding;
  /** Failure-detection timings in force on this node (absent from daemons that predate them). */
  readonly detection?: StatusDetection;
  /** This node's health checks (absent from daemons that predate them). */
  readonly health?: readonly StatusHealth[];
  readonly events: readonly StatusEvent[];
}

export interface StatusDetection {
  readonly profile: string;
  /** A member silent this long is declared failed (cluster.failureTimeoutMs). */
  readonly failureTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly suspectAfterMs: number;
  /** How the failure-detector thread is scheduled, e.g. "SCHED_RR priority 10". */
  readonly scheduling: string;
  /** How the process's other threads (V8's GC helpers the detector's collections wait for) are scheduled. */
  readonly helperScheduling?: string;
}

export interface StatusHealth {
  readonly service: string;
  readonly check: string;
  readonly status: "pending" | "up" | "down";
  /** ISO time of the last status change. */
  readonly since: string;
  /** Why it fails, when down. */
  readonly detail?: string;
}
