// Messages between the daemon and its gossip thread (thread-main.ts / threaded.ts). Plain data only: they
// cross a worker_threads boundary by structured clone.
import type { HealthCause } from "./awareness";
import type { GossipProfileName } from "./config";
import type { MemberView } from "./memberlist";
import type { MemberMetadata } from "./metadata";
import type { GossipStats } from "./stats";
import type { MemberVersions } from "./version";

export interface GossipThreadOptions {
  readonly name: string;
  readonly bindHost: string;
  readonly bindPort: number;
  /** "host:port" peers use to reach us; the bound address when absent. */
  readonly advertise: string | undefined;
  readonly profile: GossipProfileName;
  /** cluster.failureTimeoutMs; undefined = the profile's own (lan 150 ms, wan 3 s). */
  readonly failureTimeoutMs?: number;
  readonly clusterLabel: string;
  /** Base64 keys, the first one sends; none = insecure (plaintext). */
  readonly keys: readonly string[] | undefined;
  readonly metadata: MemberMetadata;
  /** This node's release, advertised to the others. */
  readonly build?: string;
}

/** The failure-detection timings the thread runs with, and how it is scheduled (for `vipd status`). */
export interface DetectionInForce {
  readonly profile: GossipProfileName;
  readonly failureTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly suspectAfterMs: number;
  /** e.g. "SCHED_RR priority 10", or "normal (not raised: ...)". */
  readonly scheduling: string;
  /** The process's other threads (V8's GC helpers), e.g. "6 helper threads SCHED_RR priority 5"; set by
   *  the daemon side, which raises them before the thread starts. */
  readonly helperScheduling?: string;
}

export type MemberEventName = "join" | "alive" | "suspect" | "dead" | "leave" | "metadata";

export type ToThread =
  /** The options, first message to a thread started without them (ThreadedMemberlist.boot()). */
  | { readonly op: "init"; readonly options: GossipThreadOptions }
  | { readonly op: "start" }
  | { readonly op: "join"; readonly seeds: readonly string[] }
  /**
   * Our record, encoded by the daemon for `versions` (the thread's last "ready" or "speaking" vector). Bytes,
   * not the object: cloning and encoding a 10,000-VIP record here blocked the failure detector ~75 ms.
   */
  | { readonly op: "setRecord"; readonly encoded: Uint8Array; readonly versions: MemberVersions }
  | { readonly op: "setKeys"; readonly keys: readonly string[] }
  | { readonly op: "leave" }
  | { readonly op: "stop" };

export type FromThread =
  | {
      readonly type: "ready";
      readonly advertiseAddr: string;
      readonly members: readonly MemberView[];
      readonly detection: DetectionInForce;
      /** The version vector to encode our record with (see "speaking"). */
      readonly versions: MemberVersions;
    }
  | { readonly type: "failed"; readonly error: string }
  /**
   * A member event. `member.metadata` is left out: the daemon keeps each member's last record itself, and
   * `record` carries the member's encoded record when it is new since the last message about that member
   * (a 10,000-VIP record cloned with every suspect or alive event cost the thread ~25 ms and the daemon ~40).
   */
  | {
      readonly type: "member";
      readonly event: MemberEventName;
      readonly member: MemberView;
      readonly record?: Uint8Array;
    }
  | { readonly type: "refused"; readonly member: MemberView; readonly reason: string }
  /** The versions the thread speaks changed: the daemon encodes its record again with them. */
  | { readonly type: "speaking"; readonly versions: MemberVersions }
  | { readonly type: "health"; readonly score: number; readonly cause: HealthCause }
  | { readonly type: "stats"; readonly stats: GossipStats }
  | { readonly type: "left" };
