// systemd integration with real daemons in the lab: the notify protocol as systemd would see it, and a
// node that runs as an unprivileged user with only CAP_NET_ADMIN and CAP_NET_RAW (what the unit grants).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, chownSync, existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import type { AgentHandle } from "./agent-protocol";
import { LAB_MANIFESTS, VipdCluster, type ClusterNode } from "./cluster";
import { DIST_ROOT, Lab } from "./lab";
import { capturedGarps, capturedNas, sleep, startCapture } from "./lab-helpers";
import { NotifyReceiver } from "./notify-receiver";
import { ensureTools, installInto, openTempDir } from "../systemd/helpers";

const VIPD = join(DIST_ROOT, "daemon", "vipd.js");
const V4 = "198.51.100.50";
const V6 = "2001:db8:100::50";
const WATCHDOG_USEC = 1_000_000;
const PACE_MS = WATCHDOG_USEC / 2000;

describe("sd_notify from a real daemon", () => {
  let lab: Lab;
  let cluster: VipdCluster;
  let receiver: NotifyReceiver;
  let folder: string;

  before(async () => {
    folder = openTempDir("vipd-notify-lab-");
    // A file socket: unlike an abstract one it is reachable from inside the node's network namespace.
    receiver = new NotifyReceiver(join(folder, "notify.sock"));
    lab = await Lab.create({ nodes: 1 });
    cluster = await VipdCluster.start(lab, LAB_MANIFESTS, {
      launcher: (_node, args) => [
        "env",
        `NOTIFY_SOCKET=${receiver.path}`,
        `WATCHDOG_USEC=${WATCHDOG_USEC}`,
        process.execPath,
        VIPD,
        ...args,
      ],
    });
  });

  after(async () => {
    await cluster?.stop();
    await lab?.destroy();
    receiver?.close();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  test("READY=1, then WATCHDOG=1 at half WATCHDOG_USEC from the loop, RELOADING=1 on SIGHUP, STOPPING=1 last", async () => {
    await receiver.waitFor("READY=1", () => receiver.with("READY", "1").length > 0, 5000);
    const status = await cluster.status(1);
    const total = status.vips.reduce((n, v) => n + v.ips.length, 0);
    const wanted = `owning ${total} of ${total} VIPs, 1/1 members alive`;
    await receiver.waitFor(`STATUS=${wanted}`, () => receiver.with("STATUS", wanted).length > 0, 5000);

    const readyAt = receiver.with("READY", "1")[0]!.at;
    await sleep(3000);
    const pings = receiver.with("WATCHDOG", "1").filter((m) => m.at > readyAt);
    const gaps = pings.slice(1).map((m, i) => m.at - pings[i]!.at);
    const window = pings.at(-1)!.at - readyAt;
    // systemd kills the service when a gap reaches WATCHDOG_USEC; the loop pings about every PACE_MS.
    assert.ok(
      Math.max(...gaps) < WATCHDOG_USEC / 1000,
      `every gap under the watchdog timeout: ${gaps.join(", ")}`,
    );
    assert.ok(pings.length >= Math.floor(window / PACE_MS) - 1, `${pings.length} pings in ${window} ms`);
    assert.ok(
      pings.length <= window / (PACE_MS / 2) + 2,
      `not a flood: ${pings.length} pings in ${window} ms`,
    );
    const sorted = [...gaps].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    assert.ok(
      median >= PACE_MS * 0.5 && median <= PACE_MS * 1.5,
      `median gap ${median} ms, pace ${PACE_MS} ms`,
    );

    const node = cluster.node(1);
    const pid = await cluster.daemonPid(node);
    assert.ok(pid, "daemon pid");
    const before = receiver.messages.length;
    process.kill(pid, "SIGHUP");
    await receiver.waitFor(
      "RELOADING=1 then READY=1",
      () => receiver.messages.slice(before).some((m) => m.fields.get("READY") === "1"),
      3000,
    );
    const afterHup = receiver.messages.slice(before);
    const reloading = afterHup.findIndex((m) => m.fields.get("RELOADING") === "1");
    const readyAgain = afterHup.findIndex((m) => m.fields.get("READY") === "1");
    assert.ok(reloading >= 0 && reloading < readyAgain, "RELOADING=1 comes before READY=1");
    assert.match(afterHup[reloading]!.fields.get("MONOTONIC_USEC") ?? "", /^\d+$/);

    await cluster.stopNode(1, "SIGTERM");
    const stopping = receiver.with("STOPPING", "1");
    assert.equal(stopping.length, 1, "one STOPPING=1");
    assert.equal(receiver.messages.at(-1), stopping[0], "STOPPING=1 is the last message: no ping after it");
  });
});

describe("an unprivileged node with only CAP_NET_ADMIN and CAP_NET_RAW", () => {
  const NOBODY = 65534;
  let lab: Lab;
  let cluster: VipdCluster;
  let capture: AgentHandle;
  let destdir: string;

  before(async () => {
    ensureTools({ setpriv: "util-linux" });
    // Run from an installed tree, as the unit does: the checkout may sit where the user cannot read.
    destdir = openTempDir("vipd-unpriv-");
    installInto(destdir);
    const installedNode = join(destdir, "opt/vipd/bin/node");
    const nodeBinary = existsSync(installedNode) ? installedNode : process.execPath;
    const installedVipd = join(destdir, "opt/vipd/dist/daemon/vipd.js");
    lab = await Lab.create({ nodes: 1 });
    capture = await startCapture(lab);
    cluster = await VipdCluster.start(lab, LAB_MANIFESTS, {
      launcher: (node: ClusterNode, args) => {
        // The user needs its folder (state/ is created inside) and a way through the cluster's private root.
        chmodSync(dirname(node.dir), 0o711);
        chownTree(node.dir, NOBODY);
        return [
          "setpriv",
          `--reuid=${NOBODY}`,
          `--regid=${NOBODY}`,
          "--clear-groups",
          "--inh-caps=-all,+net_admin,+net_raw",
          "--ambient-caps=-all,+net_admin,+net_raw",
          "--bounding-set=-all,+net_admin,+net_raw",
          "--no-new-privs",
          nodeBinary,
          installedVipd,
          ...args,
        ];
      },
    });
  });

  after(async () => {
    await cluster?.stop();
    capture?.kill();
    await lab?.destroy();
    if (destdir) rmSync(destdir, { recursive: true, force: true });
  });

  test("runs as the user with just the two capabilities, owns the VIPs, announces them, releases them", async () => {
    const node = cluster.node(1);
    const pid = await cluster.daemonPid(node);
    assert.ok(pid, "daemon pid");
    const procStatus = readFileSync(`/proc/${pid}/status`, "utf8");
    const field = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, "m").exec(procStatus)?.[1] ?? "";
    assert.deepEqual(field("Uid").split(/\s+/).map(Number), [NOBODY, NOBODY, NOBODY, NOBODY]);
    const netAdminAndRaw = (1n << 12n) | (1n << 13n);
    for (const set of ["CapEff", "CapPrm", "CapAmb", "CapBnd"]) {
      assert.equal(BigInt(`0x${field(set)}`), netAdminAndRaw, `${set} is CAP_NET_ADMIN + CAP_NET_RAW only`);
    }

    const mac = node.member.eth0.mac;
    await cluster.until(
      "node1 holds both VIPs",
      async () => (await cluster.holders(V4)).length === 1 && (await cluster.holders(V6)).length === 1,
      5000,
    );
    await cluster.until(
      "the client sees the GARP and the NA",
      async () => capturedGarps(capture, V4).length > 0 && capturedNas(capture, V6).length > 0,
      5000,
    );
    assert.equal(capturedGarps(capture, V4)[0]?.senderMac, mac, "GARP (AF_PACKET) from node1");
    assert.equal(capturedNas(capture, V6)[0]?.targetMac, mac, "NA (raw ICMPv6) names node1");
    // The state file is written half a second after the allocation (StateFileWriter), as the user.
    await cluster.until(
      "the allocation state is written",
      async () => existsSync(join(node.dir, "state", "allocations.json")),
      5000,
    );

    await cluster.stopNode(1, "SIGTERM");
    assert.deepEqual(await cluster.holders(V4), [], "released through netlink on stop");
    assert.deepEqual(await cluster.holders(V6), []);
    assert.doesNotMatch(node.log, /EPERM|EACCES|operation not permitted/i);
  });
});

function chownTree(path: string, id: number): void {
  chownSync(path, id, id);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) chownTree(child, id);
    else chownSync(child, id, id);
  }
}
