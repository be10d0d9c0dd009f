// Starting the gossip layer for the daemon: the thread with this node's settings, and its events routed to
// the daemon's handlers. Kept out of daemon.ts, which only says what each event means to it.
import type { Settings } from "../config/settings";
import type { GossipProfileName } from "../gossip/config";
import type { MemberMetadata } from "../gossip/metadata";
import type { MemberView } from "../gossip/memberlist";
import { ThreadedMemberlist, type GossipThreadBoot } from "../gossip/threaded";
import type { MemberEvent } from "../plan/types";
import { splitHostPort } from "./http-server";

export interface GossipStart {
  readonly settings: Settings;
  readonly build: string;
  readonly profile: GossipProfileName | undefined;
  readonly clusterLabel: string | undefined;
  /** Base64 keys, the first one sends; undefined = insecure. */
  readonly keys: readonly string[] | undefined;
  /** The record peers learn first. */
  readonly metadata: MemberMetadata;
}

export interface GossipHandlers {
  member(event: MemberEvent["kind"], member: MemberView): void;
  /** A member whose versions do not overlap ours. */
  refused(member: MemberView, reason: string): void;
  /** Lifeguard's local-health score moved. */
  health(score: number, cause: string): void;
  /** The gossip thread died: the daemon cannot go on. */
  failed(reason: string): void;
}

/** A gossip thread booting ahead of startGossip(), while the config loads (ThreadedMemberlist.boot()). */
export const bootGossipThread = (): GossipThreadBoot => ThreadedMemberlist.boot();

/** Starts the gossip thread (or hands `boot`'s its options), routes its events, and joins the configured peers. */
export async function startGossip(
  start: GossipStart,
  handlers: GossipHandlers,
  boot?: GossipThreadBoot,
): Promise<ThreadedMemberlist> {
  const cluster = start.settings.cluster;
  const { host: bindHost, port: bindPort } = splitHostPort(cluster.bind);
  const memberlist = await ThreadedMemberlist.start(
    {
      name: start.settings.nodeName,
      bindHost,
      bindPort,
      advertise: cluster.advertise ?? undefined,
      profile: start.profile ?? "lan",
      failureTimeoutMs: cluster.failureTimeoutMs ?? undefined,
      clusterLabel: start.clusterLabel ?? "vipd",
      keys: start.keys,
      build: start.build,
      metadata: start.metadata,
    },
    boot,
  );
  memberlist.onFailure((reason) => handlers.failed(reason));
  for (const event of ["join", "alive", "suspect", "dead", "leave", "metadata"] as const)
    memberlist.on(event, (member) => handlers.member(event, member));
  memberlist.on("refused", (member, reason) => handlers.refused(member, reason));
  memberlist.on("health", (score, cause) => handlers.health(score, cause));
  memberlist.start();
  if (cluster.join.length > 0) memberlist.join(cluster.join);
  return memberlist;
}
