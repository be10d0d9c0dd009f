// Stand-in for the daemon inside a lab node namespace: drives lib/net (watch, eligibility, address applier,
// announcer) on commands from the test, and answers UDP probes with its node name so the client can see
// which node received traffic. The daemon replaces it later.
import { createSocket } from "node:dgram";
import { Announcer, type AnnouncePolicy } from "../../lib/net/announcer";
import { EligibilityTracker } from "../../lib/net/eligibility";
import { KernelTransport } from "../../lib/net/kernel-transport";
import { NetlinkWatch } from "../../lib/net/netlink-watch";
import { VipAddresses } from "../../lib/net/vip-addresses";
import { AddressApplier, type ApplyResult } from "../../lib/net/address-applier";
import { serveAgent, type Json, type JsonObject } from "./agent-protocol";

export const PROBE_PORT = 7777;
const nodeName = process.argv[2] ?? "node";

async function main(): Promise<void> {
  const watch = await NetlinkWatch.start();
  const transport = new KernelTransport();
  let announcer = new Announcer(transport);
  const addresses = new VipAddresses(watch.requestSocket);
  const eligibility = new EligibilityTracker(watch);
  let owned = new Map<string, readonly string[]>();
  let applier: AddressApplier | undefined;

  const interfacesFor = (names: readonly string[]) =>
    names.flatMap((name) => {
      const link = watch.link(name);
      return link
        ? [{ name: link.name, index: link.index, mac: link.mac, linkLocal: watch.linkLocal(link.index) }]
        : [];
    });

  const onApplied = (result: ApplyResult): void => {
    for (const added of result.added) {
      const choice = eligibility.choice(added.ip);
      if (choice?.eligible) announcer.announce(added.ip, interfacesFor(choice.interfaces));
      agent.emit(added.repaired ? "repaired" : "added", { ip: added.ip, ifname: added.ifname });
    }
    for (const removed of result.removed) agent.emit("removed", { ip: removed.ip, ifname: removed.ifname });
    for (const failed of result.failed) agent.emit("failed", { ...failed });
  };

  eligibility.onChange((changes) => {
    // An owned VIP whose interface went away is released here (the daemon would also re-elect).
    if (applier && changes.some((c) => owned.has(c.ip))) void applyOwned();
    for (const c of changes) {
      agent.emit("eligibility", {
        ip: c.ip,
        eligible: c.choice.eligible,
        interfaces: c.choice.eligible ? [...c.choice.interfaces] : [],
        reason: c.choice.eligible ? "" : c.choice.reason,
      });
    }
  });

  /** Owned VIPs that are eligible go on their first chosen interface; the rest are released. */
  const applyOwned = async (): Promise<void> => {
    const desired = new Map<string, string>();
    for (const ip of owned.keys()) {
      const choice = eligibility.choice(ip);
      if (choice?.eligible) desired.set(ip, choice.interfaces[0]);
      else announcer.withdraw(ip);
    }
    for (const ip of applier!.wanted().keys()) if (!desired.has(ip)) announcer.withdraw(ip);
    await applier!.setWanted(desired);
  };

  const udp4 = createSocket("udp4");
  const udp6 = createSocket({ type: "udp6", ipv6Only: true });
  for (const socket of [udp4, udp6]) {
    socket.on("message", (_msg, from) => socket.send(nodeName, from.port, from.address));
    socket.bind(PROBE_PORT);
  }

  const agent = serveAgent({
    /** Starts applying: the first pass removes stale marked addresses (the start-up cleanup). */
    start: async (request) => {
      if (request.policy) {
        announcer.stop();
        announcer = new Announcer(transport, request.policy as unknown as Partial<AnnouncePolicy>);
      }
      applier = new AddressApplier(watch, addresses, onApplied);
      const before = (await addresses.listMarked()).map((a) => a.ip);
      await applyOwned();
      return { markedAtStart: before };
    },
    /** {vips: {ip: [advertised interfaces]}}: the VIPs this node owns now. */
    own: async (request) => {
      const vips = request.vips as Record<string, string[]>;
      owned = new Map(Object.entries(vips));
      eligibility.setVips(owned);
      await applyOwned();
      const choices: JsonObject = {};
      for (const ip of owned.keys()) choices[ip] = eligibility.choice(ip) as unknown as Json;
      return choices;
    },
    eligibility: (request) => {
      eligibility.setVips(new Map(Object.entries(request.vips as Record<string, string[]>)));
      const choices: JsonObject = {};
      for (const ip of Object.keys(request.vips as JsonObject))
        choices[ip] = eligibility.choice(ip) as unknown as Json;
      return choices;
    },
    counters: () => announcer.frameCounts() as unknown as Json,
    marked: async () => (await addresses.listMarked()).map((a) => `${a.ip}/${a.prefixlen}@${a.index}`),
    release: async () => {
      announcer.stop();
      await applier?.releaseAll();
      return true;
    },
  });
  agent.emit("ready", { node: nodeName });
}

main().catch((error: unknown) => {
  process.stderr.write(`net-agent: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
