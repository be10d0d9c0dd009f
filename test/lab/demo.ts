// `npm run lab`: the first thing a new user runs. A 3-node vipd cluster in network namespaces with the example
// manifests on lab addresses; it kills the owner of a VIP, prints the failover time the client saw, brings the
// node back and shows the VIP's way home, then tears everything down.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { VipdCluster, METRICS } from "./cluster";
import { DIST_ROOT, Lab } from "./lab";
import { capturedGarps, msBetween, startCapture } from "./lab-helpers";

const execFileAsync = promisify(execFile);
const VIP = "198.51.100.50";

async function printStatus(cluster: VipdCluster, n: number, ...extra: string[]): Promise<void> {
  const { stdout } = await execFileAsync("ip", [
    "netns",
    "exec",
    cluster.node(n).member.ns,
    process.execPath,
    join(DIST_ROOT, "daemon", "vipd.js"),
    "status",
    "--address",
    `http://${METRICS}`,
    ...extra,
  ]);
  process.stdout.write(stdout.replace(/^/gm, "    ") + "\n");
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error("the lab creates network namespaces and needs root: run `sudo npm run lab`");
  }
  const started = Date.now();
  console.log("vipd lab: 3 nodes (198.51.100.1-3) and a client (198.51.100.200) on one bridge\n");
  const lab = await Lab.create({ nodes: 3 });
  try {
    const capture = await startCapture(lab);
    const cluster = await VipdCluster.start(lab);
    const owner = await cluster.until(
      `an owner for ${VIP}`,
      async () => (await cluster.holders(VIP)).length === 1,
      5000,
    );
    void owner;
    const holder = (await cluster.holders(VIP))[0] ?? "";
    const n = Number(holder.replace("node", ""));
    console.log(`1. vipd status on node1, ${((Date.now() - started) / 1000).toFixed(1)} s after start:\n`);
    await printStatus(cluster, 1);
    console.log(`2. Why ${holder} owns ${VIP} (vipd status --ip ${VIP}):\n`);
    await printStatus(cluster, 1, "--ip", VIP);

    const oldMac = cluster.node(n).member.eth0.mac;
    console.log(`3. SIGKILL the vipd on ${holder} (the owner of ${VIP}) ...`);
    const killedAt = process.hrtime.bigint();
    cluster.signal(n, "SIGKILL");
    await cluster.until(
      "a gratuitous ARP from the new owner",
      async () => capturedGarps(capture, VIP, killedAt).some((f) => f.senderMac !== oldMac),
      3000,
      2,
    );
    const garp = capturedGarps(capture, VIP, killedAt).find((f) => f.senderMac !== oldMac);
    const newOwner = cluster.nodes.find((x) => x.member.eth0.mac === garp?.senderMac)?.name ?? "?";
    const failoverMs = garp ? msBetween(killedAt, garp.at) : NaN;
    console.log(
      `   failover: ${newOwner} announced ${VIP} ${failoverMs.toFixed(1)} ms after the kill (seen by the client)\n`,
    );

    console.log(
      `4. Restart the vipd on ${holder}: its stale address is cleaned up and the VIP goes home ...`,
    );
    const restartAt = process.hrtime.bigint();
    cluster.launch(cluster.node(n));
    await cluster.waitReady(cluster.node(n));
    await cluster.until(
      `${holder} announcing again`,
      async () => capturedGarps(capture, VIP, restartAt).some((f) => f.senderMac === oldMac),
      5000,
      5,
    );
    const back = capturedGarps(capture, VIP, restartAt).find((f) => f.senderMac === oldMac);
    console.log(
      `   ${holder} took ${VIP} back ${back ? msBetween(restartAt, back.at).toFixed(0) : "?"} ms after its restart\n`,
    );
    await cluster.until("one holder", async () => (await cluster.holders(VIP)).length === 1, 3000);
    console.log("5. vipd status after the round trip:\n");
    await printStatus(cluster, 1);
    await cluster.stop();
    console.log(
      `failover time: ${failoverMs.toFixed(1)} ms. Lab done in ${((Date.now() - started) / 1000).toFixed(1)} s; tearing down.`,
    );
  } finally {
    await lab.destroy();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`vipd lab failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
