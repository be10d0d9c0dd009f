// The gossip thread: one Memberlist with its own UDP socket, timers and event loop. The daemon's main thread
// does the per-VIP work (reconcile, netlink, announcements, config); with 10,000 VIPs that work blocked the
// loop for hundreds of ms at a time, heartbeats stopped, and healthy members were declared dead again and
// again. Here the failure detector keeps its 25 ms pace whatever the main thread is doing, as keepalived's
// VRRP process does beside its checkers.
import { parentPort } from "node:worker_threads";
import { RealClock } from "./clock";
import { gossipProfile } from "./config";
import { Keyring } from "./keyring";
import { Memberlist, type MemberView } from "./memberlist";
import { describeScheduling, raiseThisThreadPriority } from "./priority";
import type { FromThread, GossipThreadOptions, MemberEventName, ToThread } from "./thread-protocol";
import { UdpTransport } from "./udp-transport";

const STATS_INTERVAL_MS = 500;

function post(message: FromThread): void {
  parentPort?.postMessage(message);
}

async function main(options: GossipThreadOptions): Promise<void> {
  // First, before any socket or timer: this thread is the failure detector (see priority.ts).
  const scheduling = describeScheduling(raiseThisThreadPriority());
  const config = gossipProfile(
    options.profile,
    options.failureTimeoutMs === undefined ? {} : { failureTimeoutMs: options.failureTimeoutMs },
  );
  const udp = await UdpTransport.listen({ bindHost: options.bindHost, port: options.bindPort });
  const keyring = options.keys && options.keys.length > 0 ? Keyring.fromBase64(...options.keys) : undefined;
  const clock = new RealClock();
  const memberlist = new Memberlist({
    name: options.name,
    advertiseAddr: options.advertise ?? udp.localAddress,
    config,
    transport: udp,
    clock,
    keyring,
    insecure: keyring === undefined,
    clusterLabel: options.clusterLabel,
    metadata: options.metadata,
    ...(options.build !== undefined ? { build: options.build } : {}),
    greetInOldestFormat: true,
    versionsOnly: true,
  });
  // Each member's record digest as last posted: the bytes cross to the daemon once per record.
  const posted = new Map<string, string>();
  const memberMessage = (event: MemberEventName, member: MemberView): FromThread => {
    // Never our own: the daemon has it (it set it), and decoding a copy of a 10,000-VIP record costs ~50 ms.
    const record = member.name === options.name ? undefined : memberlist.encodedMetadata(member.name);
    const fresh = record !== undefined && posted.get(member.name) !== record.digest;
    if (fresh) posted.set(member.name, record.digest);
    const bare: MemberView = { ...member, metadata: undefined };
    return { type: "member", event, member: bare, ...(fresh ? { record: record.encoded } : {}) };
  };
  const events: MemberEventName[] = ["join", "alive", "suspect", "dead", "leave", "metadata"];
  for (const event of events) memberlist.on(event, (member) => post(memberMessage(event, member)));
  memberlist.on("refused", (member, reason) =>
    post({ type: "refused", member: { ...member, metadata: undefined }, reason }),
  );
  memberlist.on("speaking", (versions) => post({ type: "speaking", versions }));
  memberlist.on("health", (score, cause) => post({ type: "health", score, cause }));
  // On the heartbeats' grid (500 ms is 20 lan intervals): the post rides a wake-up they make anyway.
  let statsTimer = setTimeout(function postStats() {
    post({ type: "stats", stats: memberlist.stats() });
    statsTimer = setTimeout(postStats, clock.untilGrid(STATS_INTERVAL_MS));
  }, clock.untilGrid(STATS_INTERVAL_MS));

  parentPort?.on("message", (message: ToThread) => {
    switch (message.op) {
      case "init":
        return;
      case "start":
        return memberlist.start();
      case "join":
        return memberlist.join(message.seeds);
      case "setRecord": {
        const bytes = message.encoded;
        // Refused only when the versions moved on: the "speaking" message posted then brings a new encoding.
        memberlist.setEncodedMetadata(
          Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
          message.versions,
        );
        return;
      }
      case "setKeys": {
        if (!keyring) return;
        for (const key of message.keys) keyring.addKey(key);
        keyring.useKey(message.keys[0] ?? "");
        for (const key of keyring.list()) if (!message.keys.includes(key)) keyring.removeKey(key);
        return;
      }
      case "leave":
        void memberlist.leave().then(() => post({ type: "left" }));
        return;
      case "stop":
        clearTimeout(statsTimer);
        memberlist.stop();
        void udp.close().then(() => parentPort?.close());
        return;
    }
  });
  post({
    type: "ready",
    advertiseAddr: memberlist.advertiseAddr,
    members: memberlist.members(),
    detection: {
      profile: config.profile,
      failureTimeoutMs: config.failureTimeoutMs,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      suspectAfterMs: config.heartbeatTimeoutMs,
      scheduling,
    },
    versions: memberlist.ownVersionVector,
  });
}

/** The options: the first message (the thread boots before the daemon has loaded its config). */
function options(): Promise<GossipThreadOptions> {
  return new Promise((resolve) => {
    const first = (message: ToThread): void => {
      if (message.op !== "init") return;
      parentPort?.off("message", first);
      resolve(message.options);
    };
    parentPort?.on("message", first);
  });
}

options()
  .then(main)
  .catch((error: unknown) =>
    post({ type: "failed", error: error instanceof Error ? error.message : String(error) }),
  );
