// IPv6 address conflicts end to end, as conflict-lab.test.ts does for IPv4: a foreign device (the client
// namespace) holds an IPv6 VIP before vipd starts. vipd's DAD-style Neighbor Solicitation finds it, no node
// takes the IP and every node says why (same event, metric and status line as IPv4); once the device lets
// go, a node takes it. Then the device sends an unsolicited NA for the VIP a node holds: reported, answered
// with one burst, not fought.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { VipdCluster } from "./cluster";
import {
  assertForeignClaimAnswered,
  conflictCount,
  untilEveryNodeReportsConflict,
  untilSettledAfterConflict,
} from "./conflict-checks";
import { DIST_ROOT, Lab } from "./lab";
import { pinnedServiceManifests } from "./lab-helpers";

const execFileAsync = promisify(execFile);
const SQUATTED = "2001:db8:100::60"; // held by the client before vipd starts
const FREE = "2001:db8:100::61";
const REPROBE_MS = 2000;

const MANIFESTS = pinnedServiceManifests(`${SQUATTED}-${FREE}`, { squatted: SQUATTED, free: FREE });

let lab: Lab;
let cluster: VipdCluster;

before(async () => {
  lab = await Lab.create({ nodes: 2 });
  await lab.ip(lab.client.ns, "addr", "add", `${SQUATTED}/128`, "dev", "eth0", "nodad");
  cluster = await VipdCluster.start(lab, MANIFESTS, {
    cluster: { conflictReprobeMs: REPROBE_MS },
    readyTimeoutMs: 40_000,
  });
});

after(async () => {
  await cluster?.stop();
  await lab?.destroy();
});

test("an IPv6 VIP a foreign device already holds is not taken (DAD-style probe), and the conflict is reported", async () => {
  await cluster.until(
    "one holder of the free IPv6 VIP",
    async () => (await cluster.holders(FREE)).length === 1,
    15_000,
    100,
  );
  await untilEveryNodeReportsConflict(cluster, [1, 2], SQUATTED, lab.client.eth0.mac, 15_000);
  assert.deepEqual(await cluster.holders(SQUATTED), [], "no node holds the squatted IP");
});

test("once the device lets go of the IPv6 VIP, a node takes it at the next re-probe", async (t) => {
  await lab.ip(lab.client.ns, "addr", "del", `${SQUATTED}/128`, "dev", "eth0");
  const took = await cluster.until(
    "one node holds the released IP",
    async () => (await cluster.holders(SQUATTED)).length === 1,
    REPROBE_MS + 5000,
    50,
  );
  t.diagnostic(`taken ${took} ms after the device released it (re-probe period ${REPROBE_MS} ms)`);
  // Ownership may still move once the other node's re-probe clears (see untilSettledAfterConflict).
  await untilSettledAfterConflict(cluster, [1, 2], SQUATTED, REPROBE_MS + 5000);
});

test("a foreign unsolicited NA for a held IPv6 VIP is reported and answered once, not fought", async () => {
  const n = await untilSettledAfterConflict(cluster, [1, 2], SQUATTED, REPROBE_MS + 5000);
  const before = await conflictCount(cluster, n, SQUATTED);
  // One unsolicited NA from the client's MAC, as a misconfigured device would send.
  // As a whole frame from the client's link-local address, the way any host's kernel sends it.
  const script = `const fs=require("node:fs");
const {PacketSocket}=require(${JSON.stringify(join(DIST_ROOT, "lib/net/packet-socket.js"))});
const {allNodesIcmpv6Frame,unsolicitedNeighborAdvertisement}=require(${JSON.stringify(join(DIST_ROOT, "lib/net/ndp-frame.js"))});
const row=fs.readFileSync("/proc/net/if_inet6","utf8").split("\\n").map(l=>l.trim().split(/\\s+/)).find(f=>f[5]==="eth0"&&f[3]==="20");
const source=row?row[0].match(/.{4}/g).join(":"):"::";
const mac=${JSON.stringify(lab.client.eth0.mac)};
const s=new PacketSocket();
s.send(Number(fs.readFileSync("/sys/class/net/eth0/ifindex","utf8")),allNodesIcmpv6Frame(mac,source,unsolicitedNeighborAdvertisement(${JSON.stringify(SQUATTED)},mac)));
s.close();`;
  await execFileAsync("ip", ["netns", "exec", lab.client.ns, process.execPath, "-e", script]);
  await cluster.until(
    "the holder counts the foreign claim",
    async () => (await conflictCount(cluster, n, SQUATTED)) > before,
    5000,
    100,
  );
  await assertForeignClaimAnswered(cluster, n, SQUATTED, lab.client.eth0.mac);
});
