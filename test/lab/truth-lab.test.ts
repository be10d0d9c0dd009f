// Truthful state end to end (issue 12): three real daemons, one of which cannot add addresses for the whole
// run, checked against `ip addr`. How the kernel is made to refuse: node3's vipd runs under
// `setpriv --bounding-set -net_admin`, so it lacks CAP_NET_ADMIN and every RTM_NEWADDR fails with EPERM
// (exactly the failure of the report), while netlink notifications, raw sockets and gossip still work. No
// nftables, no seccomp, nothing outside the node's namespace. A per-VIP refusal that goes away: IPv6 disabled
// on one node's link (adds fail with EACCES; the advertisement names eth0, so the link itself stays eligible).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderStatus } from "../../lib/cli/status-report";
import type { DaemonStatus } from "../../lib/daemon/status-types";
import { VipdCluster, VIPD_NODE_FLAGS, type ClusterNode } from "./cluster";
import { DIST_ROOT, Lab } from "./lab";

const V4 = [
  "198.51.100.50",
  "198.51.100.51",
  "198.51.100.52",
  "198.51.100.53",
  "198.51.100.54",
  "198.51.100.55",
];
const V6 = ["2001:db8:100::50", "2001:db8:100::51"];
const VIPS = [...V4, ...V6];

const MANIFESTS = [
  `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool}
spec:
  addresses: [198.51.100.50-198.51.100.60, 2001:db8:100::50-2001:db8:100::60]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: all}
spec: {ipAddressPools: [pool], interfaces: [eth0]}`,
  ...VIPS.map(
    (ip, i) => `apiVersion: v1
kind: Service
metadata:
  name: svc${i}
  annotations: {metallb.io/loadBalancerIPs: "${ip}"}
spec: {type: LoadBalancer${ip.includes(":") ? ", ipFamilies: [IPv6]" : ""}, ports: [{port: 80, protocol: TCP}]}`,
  ),
].join("\n---\n");

const execFileAsync = promisify(execFile);
const VIPD = join(DIST_ROOT, "daemon", "vipd.js");
/** node3 cannot add addresses: CAP_NET_ADMIN is dropped from its bounding set before exec. */
const NO_ADMIN = 3;

let lab: Lab;
let cluster: VipdCluster;

before(async () => {
  lab = await Lab.create({ nodes: 3 });
  cluster = await VipdCluster.start(lab, MANIFESTS, {
    launcher: (node, args) => [
      ...(node.n === NO_ADMIN ? ["setpriv", "--bounding-set", "-net_admin", "--"] : []),
      process.execPath,
      ...VIPD_NODE_FLAGS,
      VIPD,
      ...args,
    ],
    noReadyWait: [NO_ADMIN],
    readyTimeoutMs: 40_000,
  });
});

after(async () => {
  await cluster?.stop();
  await lab?.destroy();
});

/** The VIPs in each node's kernel now, by node number (`ip -j addr`). */
async function kernelVips(): Promise<Map<number, Set<string>>> {
  const out = new Map<number, Set<string>>();
  await Promise.all(
    cluster.nodes.map(async (node) => {
      const text = await lab.ip(node.member.ns, "-j", "addr", "show");
      const links = JSON.parse(text) as Array<{ addr_info?: Array<{ local?: string }> }>;
      const held = new Set<string>();
      for (const l of links)
        for (const a of l.addr_info ?? []) if (a.local && VIPS.includes(a.local)) held.add(a.local);
      out.set(node.n, held);
    }),
  );
  return out;
}

/** Every VIP in exactly one kernel, and never in node3's. */
async function settled(): Promise<boolean> {
  const held = await kernelVips();
  if ((held.get(NO_ADMIN)?.size ?? 0) > 0) return false;
  return VIPS.every((ip) => [...held.values()].filter((s) => s.has(ip)).length === 1);
}

/**
 * GET `path` from node n's HTTP server, from inside its namespace: status code and body. A generous timeout
 * (vipd status has 3 s): this is a loaded 2-core machine, and a slow answer is not what is tested here.
 */
async function httpGet(n: number, path: string): Promise<{ code: number; body: string }> {
  const { stdout } = await execFileAsync(
    "ip",
    [
      "netns",
      "exec",
      cluster.node(n).member.ns,
      process.execPath,
      "-e",
      `fetch("http://127.0.0.1:7472${path}", { signal: AbortSignal.timeout(20000) })` +
        `.then(async r => process.stdout.write(JSON.stringify({ code: r.status, body: await r.text() })))`,
    ],
    { maxBuffer: 64 << 20 },
  );
  return JSON.parse(stdout) as { code: number; body: string };
}

const readyz = async (n: number): Promise<number> => (await httpGet(n, "/readyz")).code;
const statusOf = async (n: number): Promise<DaemonStatus> =>
  JSON.parse((await httpGet(n, "/status")).body) as DaemonStatus;

/** vipd_announced's IPs with value 1 on node n. */
async function announcedIps(n: number): Promise<Set<string>> {
  const text = (await httpGet(n, "/metrics")).body;
  const ips = new Set<string>();
  for (const m of text.matchAll(/^vipd_announced\{([^}]*)\} 1$/gm)) {
    const ip = /ip="([^"]+)"/.exec(m[1] ?? "")?.[1];
    if (ip) ips.add(ip);
  }
  return ips;
}

/** The IPs node n's /status says it holds (elected owner and observed in its kernel). */
async function statusHeld(n: number): Promise<Set<string>> {
  const status = await statusOf(n);
  const name = cluster.node(n).name;
  return new Set(status.vips.filter((v) => v.owner === name && v.held === true).flatMap((v) => v.ips));
}

/**
 * Status and metrics against `ip addr`, sampled: kernel, then status and metrics, then the kernel again; a
 * sample where the kernel changed in between is taken again (the comparison needs a still moment).
 */
async function compareWithKernel(label: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const before = await kernelVips();
    const views = await Promise.all(
      cluster.nodes.map(async (node) => ({
        n: node.n,
        status: await statusHeld(node.n),
        metrics: await announcedIps(node.n),
      })),
    );
    const afterwards = await kernelVips();
    const still = cluster.nodes.every(
      (node) =>
        [...(before.get(node.n) ?? [])].sort().join() === [...(afterwards.get(node.n) ?? [])].sort().join(),
    );
    if (!still && attempt < 20) continue;
    for (const v of views) {
      const kernel = [...(afterwards.get(v.n) ?? [])].sort();
      assert.deepEqual([...v.status].sort(), kernel, `${label}: node${v.n} /status held vs ip addr`);
      assert.deepEqual([...v.metrics].sort(), kernel, `${label}: node${v.n} vipd_announced vs ip addr`);
    }
    return;
  }
}

test("a node whose adds fail (EPERM) gives every VIP up: peers hold them all, it reports not-ready", async () => {
  await cluster.until("every VIP held once, none on node3", settled, 30_000, 100);
  const status = await statusOf(NO_ADMIN);
  assert.equal(status.ready, false, "node3 /status ready");
  assert.match(status.notReadyReason ?? "", /EPERM/);
  assert.equal(await readyz(NO_ADMIN), 503, "node3 /readyz");
  assert.equal(await readyz(1), 200, "node1 /readyz");
  // `vipd status` renders /status with renderStatus; rendered here to spare a CLI start on a loaded machine.
  const text = renderStatus(await statusOf(NO_ADMIN));
  assert.match(text, /NOT READY: this node can hold none of its VIPs: .*EPERM/);
  const peerView = await statusOf(1);
  assert.ok(
    peerView.warnings.some((w) => w.startsWith("node3 cannot serve") && w.includes("EPERM")),
    `node1 sees node3's ineligibility: ${peerView.warnings.join(" | ")}`,
  );
  assert.ok((cluster.node(NO_ADMIN).events.get("cannotHold") ?? 0) > 0, "cannotHold event logged");
  await compareWithKernel("with node3 unable to add");
});

/** `event` log lines of node n for `ip` since `sinceMs` (wall clock), as their times in ms. */
function logTimes(n: number, events: readonly string[], ip: string, sinceMs: number): number[] {
  const out: number[] = [];
  for (const line of cluster.node(n).log.split("\n")) {
    if (!line.startsWith("{")) continue;
    let entry: { time?: string; event?: string; ip?: string };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue;
    }
    const at = Date.parse(entry.time ?? "");
    if (entry.ip === ip && events.includes(entry.event ?? "") && at >= sinceMs) out.push(at);
  }
  return out;
}

test("dark time when the elected owner cannot add: node3 (EPERM) rejoins and wins some VIPs back", async () => {
  await cluster.stopNode(NO_ADMIN, "SIGTERM");
  await cluster.until("every VIP held once without node3", settled, 20_000, 100);
  const relaunchedAt = Date.now();
  cluster.launch(cluster.node(NO_ADMIN));
  await cluster.until(
    "node3 up and not ready (it cannot hold any VIP)",
    async () => {
      const s = await statusOf(NO_ADMIN).catch(() => undefined);
      return s !== undefined && s.notReadyReason !== undefined;
    },
    30_000,
    200,
  );
  await cluster.until("every VIP held once again", settled, 15_000, 100);
  // Dark time per VIP node3 was elected for (it logged a failed add): from a peer removing it for node3
  // (failback) until a peer adds it again after node3 gave it up; 0 when no peer let go before node3 gave up
  // (a make-before-break handover). From the daemons' own logs, on one host clock.
  const tried = VIPS.filter((ip) => logTimes(NO_ADMIN, ["addressFailed"], ip, relaunchedAt).length > 0);
  const dark = new Map<string, number>();
  for (const ip of tried) {
    dark.set(ip, 0);
    for (const n of [1, 2]) {
      for (const removedAt of logTimes(n, ["addressRemoved"], ip, relaunchedAt)) {
        const readded = [1, 2]
          .flatMap((m) => logTimes(m, ["addressAdded", "addressRepaired"], ip, removedAt))
          .sort((x, y) => x - y)[0];
        assert.ok(readded !== undefined, `${ip} removed by node${n} and never added again`);
        dark.set(ip, Math.max(dark.get(ip) ?? 0, readded - removedAt));
      }
    }
  }
  const worst = Math.max(0, ...dark.values());
  console.log(
    `# owner cannot add: ${dark.size} VIP(s) handed to node3 and back; dark for ` +
      `${[...dark.entries()].map(([ip, ms]) => `${ip} ${ms} ms`).join(", ") || "none"}`,
  );
  assert.ok(dark.size > 0, "node3 ranks first for some VIP, so failback elected it for at least one");
  // Goal: normal failover time (about 1 s here) plus at most 1 s; generous for a loaded 2-core CI machine.
  assert.ok(worst < 3000, `worst dark time ${worst} ms`);
});

test("a second vipd on the same host exits non-zero within 2 s, names the running PID, touches nothing", async () => {
  const node = cluster.node(1);
  const pid = await cluster.daemonPid(node);
  assert.ok(pid, "node1's daemon PID");
  const heldBefore = (await kernelVips()).get(1);
  const removedBefore = node.events.get("addressRemoved") ?? 0;
  // What starting Node and vipd costs on this machine right now, whatever vipd then does (CI is loaded).
  const baseline = await runSecond(node, "version");
  const same = await runSecond(node, join(node.dir, "vipd.yaml"));
  console.log(
    `# second instance (same stateDir): exit ${same.code} after ${same.ms.toFixed(0)} ms (vipd version: ${baseline.ms.toFixed(0)} ms)`,
  );
  assert.equal(same.code, 1);
  assert.ok(same.ms < 2000 + baseline.ms, `exited after ${same.ms} ms`);
  assert.match(same.stderr, new RegExp(`already running .*PID ${pid}`));

  // Another stateDir, same gossip bind: stopped by the bind check, again before touching anything.
  const otherDir = join(node.dir, "second");
  mkdirSync(otherDir, { recursive: true });
  const config = readFileSync(join(node.dir, "vipd.yaml"), "utf8")
    .replace("stateDir: state", `stateDir: ${join(otherDir, "state")}`)
    .replace("manifests: [pools.yaml]", `manifests: [${node.manifestPath}]`)
    .replace("keyFile: gossip.key", `keyFile: ${join(node.dir, "gossip.key")}`);
  writeFileSync(join(otherDir, "vipd.yaml"), config);
  const bind = await runSecond(node, join(otherDir, "vipd.yaml"));
  console.log(
    `# second instance (other stateDir, same bind): exit ${bind.code} after ${bind.ms.toFixed(0)} ms`,
  );
  assert.equal(bind.code, 1);
  assert.ok(bind.ms < 2000 + baseline.ms, `exited after ${bind.ms} ms`);
  assert.match(bind.stderr, new RegExp(`gossip bind .* already in use by PID ${pid}`));

  assert.deepEqual([...((await kernelVips()).get(1) ?? [])].sort(), [...(heldBefore ?? [])].sort());
  assert.equal(node.events.get("addressRemoved") ?? 0, removedBefore, "the running daemon removed nothing");
  assert.ok(cluster.node(1).process, "the running daemon still runs");
});

async function runSecond(
  node: ClusterNode,
  config: string,
): Promise<{ code: number | null; ms: number; stderr: string }> {
  const started = performance.now();
  const child = spawn("ip", [
    "netns",
    "exec",
    node.member.ns,
    process.execPath,
    VIPD,
    ...(config === "version" ? ["version"] : ["run", "--config", config]),
  ]);
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  child.stdout.on("data", (c: Buffer) => (stderr += c.toString()));
  const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  clearTimeout(killer);
  return { code, ms: performance.now() - started, stderr };
}

test("external deletes of every VIP are repaired within 1 s, three rounds", async () => {
  await cluster.until("every VIP held once", settled, 10_000, 100);
  const repairs: number[] = [];
  for (let round = 0; round < 3; round++) {
    const held = await kernelVips();
    const t0 = Date.now();
    await Promise.all(
      cluster.nodes.map((node) =>
        lab.ipBatch(
          node.member.ns,
          [...(held.get(node.n) ?? [])].map((ip) => `addr del ${ip}/${ip.includes(":") ? 128 : 32} dev eth0`),
        ),
      ),
    );
    await cluster.until("every deleted VIP back", settled, 10_000, 50);
    // Repair time from the holders' own logs (addressRepaired), on the same clock as t0.
    for (const [n, ips] of held)
      for (const ip of ips) {
        const at = logTimes(n, ["addressRepaired", "addressAdded"], ip, t0)[0];
        assert.ok(at !== undefined, `node${n} logged the repair of ${ip}`);
        repairs.push(at - t0);
      }
    await compareWithKernel(`after delete round ${round + 1}`);
  }
  const sorted = [...repairs].sort((a, b) => a - b);
  console.log(
    `# external delete of all ${VIPS.length} VIPs x3: repaired after median ${sorted[sorted.length >> 1]} ms, max ${sorted[sorted.length - 1]} ms`,
  );
  for (const r of repairs) assert.ok(r < 1500, `repaired after ${r} ms (goal 1 s)`);
});

test("interface down and up: the VIPs move off and back, status and metrics follow the kernel", async () => {
  await cluster.until("every VIP held once", settled, 10_000, 50);
  const held1 = (await kernelVips()).get(1) ?? new Set<string>();
  assert.ok(held1.size > 0, "node1 holds some VIPs");
  await lab.ip(cluster.node(1).member.ns, "link", "set", "eth0", "down");
  await cluster.until(
    "node1 holds nothing and node2 holds every VIP once while node1's eth0 is down",
    async () => (await kernelVips()).get(1)?.size === 0 && (await settled()),
    15_000,
    50,
  );
  await compareWithKernel("node1 eth0 down");
  await lab.ip(cluster.node(1).member.ns, "link", "set", "eth0", "up");
  // The kernel flushed node1's own global IPv6 address with the link; the network manager would add it back.
  const own6 = cluster.node(1).member.eth0.ipv6;
  if (own6) await lab.ip(cluster.node(1).member.ns, "addr", "replace", own6, "dev", "eth0", "nodad");
  await cluster.until(
    "node1 holds its VIPs again (failback)",
    async () => {
      const held = await kernelVips();
      return [...held1].every((ip) => held.get(1)?.has(ip)) && (await settled());
    },
    20_000,
    50,
  );
  await compareWithKernel("node1 eth0 up again");
});

test("adds refused on one node only (IPv6 disabled on its link: EACCES): the VIP moves to a peer, and comes back once adds work", async () => {
  await cluster.until("every VIP held once", settled, 10_000, 50);
  const ip = V6[0] ?? "";
  const holder = [...(await kernelVips())].find(([, ips]) => ips.has(ip))?.[0];
  assert.ok(holder !== undefined && holder !== NO_ADMIN, `a node holds ${ip}`);
  const ns = cluster.node(holder).member.ns;
  const since = Date.now();
  // The kernel drops the link's IPv6 addresses (the VIP too) and refuses new ones with EACCES.
  await disableIpv6(ns, true);
  await cluster.until(
    `a peer holds ${ip} while node${holder} cannot add it`,
    async () => {
      const held = await kernelVips();
      return !held.get(holder)?.has(ip) && (await settled());
    },
    15_000,
    50,
  );
  const moved = Date.now() - since;
  const status = await statusOf(holder);
  const givenUp = status.holding?.givenUp.find((g) => g.ip === ip);
  assert.match(givenUp?.reason ?? "", /EACCES/, `node${holder} says why it gave ${ip} up`);
  assert.equal(status.ready, true, "other VIPs can still be held there: still ready");
  assert.ok(
    (await statusOf(holder === 1 ? 2 : 1)).warnings.some((w) =>
      w.includes(`node${holder} cannot serve ${ip}`),
    ),
    "peers see the ineligibility",
  );
  await compareWithKernel(`node${holder} refusing IPv6 adds`);

  const enabledAt = Date.now();
  await disableIpv6(ns, false);
  const own6 = cluster.node(holder).member.eth0.ipv6;
  if (own6) await lab.ip(ns, "addr", "replace", own6, "dev", "eth0", "nodad");
  await cluster.until(
    `node${holder} takes ${ip} back (a trial add worked, failback)`,
    async () => (await kernelVips()).get(holder)?.has(ip) === true && (await settled()),
    20_000,
    100,
  );
  console.log(
    `# EACCES on node${holder}: ${ip} on a peer ${moved} ms after the refusal began, back ${Date.now() - enabledAt} ms after adds work again`,
  );
  assert.ok((cluster.node(holder).events.get("canHoldAgain") ?? 0) > 0, "canHoldAgain event logged");
  await compareWithKernel(`node${holder} adding IPv6 again`);
});

/** net.ipv6.conf.eth0.disable_ipv6 in namespace `ns`, written through /proc (no sysctl binary needed). */
async function disableIpv6(ns: string, disable: boolean): Promise<void> {
  await execFileAsync("ip", [
    "netns",
    "exec",
    ns,
    "sh",
    "-c",
    `echo ${disable ? 1 : 0} > /proc/sys/net/ipv6/conf/eth0/disable_ipv6`,
  ]);
}
