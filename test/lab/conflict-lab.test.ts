// Address conflicts end to end: a foreign device (the client namespace) holds a VIP before vipd starts.
// vipd's ARP probe finds it, no node takes the IP, every node says why; once the device lets go, the
// periodic re-probe finds the IP free and a node takes it. Then the device claims it again with a GARP
// while a node holds it: reported, answered with one burst, not fought. Last, a reload brings a service for
// another address the device holds: every node's early probe finds it and nobody takes it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { AgentHandle } from "./agent-protocol";
import { VipdCluster } from "./cluster";
import {
  assertForeignClaimAnswered,
  conflictCount,
  untilEveryNodeReportsConflict,
  untilSettledAfterConflict,
} from "./conflict-checks";
import { DIST_ROOT, Lab } from "./lab";
import { capturedGarps, pinnedServiceManifests, sleep, startCapture } from "./lab-helpers";

const execFileAsync = promisify(execFile);
const SQUATTED = "198.51.100.60"; // held by the client before vipd starts
const FREE = "198.51.100.61";
const LATE = "198.51.100.62"; // held by the client before a reload brings a service for it
const REPROBE_MS = 2000;

const MANIFESTS = pinnedServiceManifests(`${SQUATTED}-${FREE}`, { squatted: SQUATTED, free: FREE });

let lab: Lab;
let cluster: VipdCluster;
let capture: AgentHandle;

before(async () => {
  lab = await Lab.create({ nodes: 3 });
  capture = await startCapture(lab);
  await lab.ip(lab.client.ns, "addr", "add", `${SQUATTED}/32`, "dev", "eth0");
  cluster = await VipdCluster.start(lab, MANIFESTS, { cluster: { conflictReprobeMs: REPROBE_MS } });
});

after(async () => {
  await cluster?.stop();
  await lab?.destroy();
});

/** ms each node's start-up probe of `ip` took, from its `arpProbe` log lines. */
function probeTimes(ip: string): number[] {
  return cluster.nodes.flatMap((node) =>
    node.log
      .split("\n")
      .filter((line) => line.includes('"event":"arpProbe"') && line.includes(`"ip":"${ip}"`))
      .map((line) => Number((JSON.parse(line) as { ms: string }).ms)),
  );
}

test("a VIP a foreign device already holds is not taken, and the conflict is reported", async (t) => {
  // The free IP is probed and taken: the probe does not block an unclaimed IP.
  await cluster.until(
    "one holder of the free IP",
    async () => (await cluster.holders(FREE)).length === 1,
    5000,
  );
  const freeProbes = probeTimes(FREE);
  assert.ok(freeProbes.length >= 1, "the free IP was probed before it was taken");
  t.diagnostic(`start-up probe of a free IP took ${freeProbes.map((ms) => ms.toFixed(1)).join(", ")} ms`);

  const reason = await untilEveryNodeReportsConflict(cluster, [1, 2, 3], SQUATTED, lab.client.eth0.mac, 5000);
  const text = await cluster.statusText(1);
  assert.match(text, new RegExp(`addressConflict: ${reason.replace(/[.()]/g, "\\$&")}`));
  // Re-probes keep finding the device: across more than a re-probe period nobody takes the IP.
  const watchUntil = Date.now() + REPROBE_MS + 500;
  while (Date.now() < watchUntil) {
    assert.deepEqual(await cluster.holders(SQUATTED), [], "no node holds the squatted IP");
    await sleep(100);
  }
});

test("once the device lets go, a node takes the IP within the re-probe period + 1 s", async (t) => {
  await lab.ip(lab.client.ns, "addr", "del", `${SQUATTED}/32`, "dev", "eth0");
  const took = await cluster.until(
    "one node holds the released IP",
    async () => (await cluster.holders(SQUATTED)).length === 1,
    REPROBE_MS + 1000,
    20,
  );
  t.diagnostic(`taken ${took} ms after the device released it (re-probe period ${REPROBE_MS} ms)`);
  // Ownership may still move once the other nodes' re-probes clear (see untilSettledAfterConflict).
  await untilSettledAfterConflict(cluster, [1, 2, 3], SQUATTED, REPROBE_MS + 5000);
});

test("a foreign GARP for a held VIP is reported and answered with one burst, not fought", async () => {
  const n = await untilSettledAfterConflict(cluster, [1, 2, 3], SQUATTED, REPROBE_MS + 5000);
  const holderMac = cluster.node(n).member.eth0.mac;
  const before = await conflictCount(cluster, n, SQUATTED);
  const sentAt = process.hrtime.bigint();
  // One gratuitous ARP reply from the client's MAC, as a misconfigured device would send.
  const script = `const {PacketSocket}=require(${JSON.stringify(join(DIST_ROOT, "lib/net/packet-socket.js"))});
const {gratuitousArpFrames}=require(${JSON.stringify(join(DIST_ROOT, "lib/net/arp-frame.js"))});
const {libc}=require(${JSON.stringify(join(DIST_ROOT, "lib/net/libc.js"))});
const s=new PacketSocket();s.send(libc().if_nametoindex("eth0"),gratuitousArpFrames(${JSON.stringify(SQUATTED)},${JSON.stringify(lab.client.eth0.mac)})[1]);s.close();`;
  await execFileAsync("ip", ["netns", "exec", lab.client.ns, process.execPath, "-e", script]);
  await cluster.until(
    "the holder counts the foreign claim",
    async () => (await conflictCount(cluster, n, SQUATTED)) > before,
    2000,
    50,
  );
  await assertForeignClaimAnswered(cluster, n, SQUATTED, lab.client.eth0.mac);
  // Further foreign frames are counted in the same episode, not answered again.
  await execFileAsync("ip", ["netns", "exec", lab.client.ns, process.execPath, "-e", script]);
  await sleep(300);
  const answers = cluster
    .node(n)
    .log.split("\n")
    .filter((l) => l.includes(`foreign device ${lab.client.eth0.mac}`));
  assert.equal(answers.length, 1, "one re-announce for the episode, not one per foreign frame");
  assert.equal(await conflictCount(cluster, n, SQUATTED), before + 1, "one conflict counted for the episode");
  assert.ok(capturedGarps(capture, SQUATTED, sentAt).some((f) => f.senderMac === holderMac));
});

test("a reload's new VIP a foreign device holds: every node's early probe finds it, nobody takes it", async () => {
  await lab.ip(lab.client.ns, "addr", "add", `${LATE}/32`, "dev", "eth0");
  const heldBefore = await cluster.holders(SQUATTED);
  const manifests = pinnedServiceManifests(`${SQUATTED}-${LATE}`, {
    squatted: SQUATTED,
    free: FREE,
    late: LATE,
  });
  for (const node of cluster.nodes) writeFileSync(node.manifestPath, manifests);
  await untilEveryNodeReportsConflict(cluster, [1, 2, 3], LATE, lab.client.eth0.mac, 5000);
  // Each node probed the new VIP at the load, before its election (lib/plan/early-probes.ts).
  const found = `${LATE}: held by ${lab.client.eth0.mac} (probed early: new in the reloaded config)`;
  for (const node of cluster.nodes) assert.ok(node.log.includes(found), `${node.name} logged "${found}"`);
  assert.deepEqual(await cluster.holders(LATE), [], "no node holds the squatted new VIP");
  assert.deepEqual(
    await cluster.holders(SQUATTED),
    heldBefore,
    "the VIPs held before the reload stay where they were",
  );
});
