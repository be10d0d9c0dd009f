// Thousands of VIPs over a 3-node lab, vipd and then keepalived (bench/scale-keepalived.ts) in the same lab
// and run: start-up until every VIP is held, RSS and CPU per node in steady state, reload latency (write of a
// config adding one IPv4 VIP -> first GARP at the client), then the time until every VIP of a SIGKILLed node
// is announced again by the survivors (first NA or GARP per VIP at the client), with a per-phase trace from
// the survivors' logs (detection, decision, netlink, send) and the kernel's own time for the same address
// adds on the same interfaces (`ip -batch`, measured right after in the same lab).
// BENCH_FAMILY=6 (default): IPv6 VIPs from 2001:db8:100::1:0/112, inside the lab's 2001:db8:100::/64.
// BENCH_FAMILY=4: IPv4 VIPs from 198.18.64.0/18 (RFC 2544's benchmark range; the lab nodes get
// 198.19.255.n/15 on eth0 so the VIPs have an interface on their subnet; lab namespaces only). BENCH_VIPS sets the count
// (default 10000), BENCH_RESULT the result file (bench/results/<name>.json, default `scale`).
// Run: node dist/bench/scale.js (root). BENCH_PHASES=start,reload or start,crash (a diagnostic run) times
// vipd's start-up and that phase only, without steady state or keepalived, and only prints.
// BENCH_PHASES=start,steady times start-up and samples steady state for BENCH_STEADY_S seconds (default 30)
// with each thread's CPU and anonymous vs file-backed memory (steadyDetail), and only prints.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AgentHandle } from "../test/lab/agent-protocol";
import { VipdCluster } from "../test/lab/cluster";
import { Lab } from "../test/lab/lab";
import { capturedGarps, msBetween, sleep, startCapture } from "../test/lab/lab-helpers";
import { logEntries } from "./daemon-log";
import { ensureKeepalived } from "./keepalived";
import { keepalivedAtScale } from "./scale-keepalived";
import {
  announcementSummary,
  clockTicksPerSecond,
  FirstAnnouncements,
  AddressMonitor,
  heldBy,
  procSample,
  STEADY_SETTLE_MS,
  steadyDetail,
  steadyState,
  threadSamples,
  threadSplit,
  waitFor,
  waitForAnnouncements,
} from "./scale-common";

const VIPS = Number(process.env.BENCH_VIPS ?? 10_000);
const FAMILY: 4 | 6 = process.env.BENCH_FAMILY === "4" ? 4 : 6;
const RESULT = process.env.BENCH_RESULT ?? "scale";
const RELOAD_VIP = "198.51.100.80";
const POOL = FAMILY === 6 ? "2001:db8:100::1:0/112" : "198.18.64.0/18";
/** Text prefix of every pool address (heldBy filters `ip addr` by it). */
const POOL_PREFIX = FAMILY === 6 ? "2001:db8:100::1:" : "198.18.";
const HOST_BITS = FAMILY === 6 ? 128 : 32;
/**
 * Diagnostic run (see the header): BENCH_PHASES=start,reload or start,crash times vipd's start-up and that
 * phase only, without steady state or keepalived, and only prints.
 */
const PHASES = new Set((process.env.BENCH_PHASES ?? "start,steady,reload,crash").split(","));
const QUICK = !PHASES.has("steady");
const PROFILING = (process.env.VIPD_LAB_NODE_FLAGS ?? "").includes("--cpu-prof");
/** Diagnostic run: vipd's start-up and steady state only, with each thread's CPU and the memory split. */
const STEADY_ONLY = process.env.BENCH_PHASES === "start,steady";

function manifest(withReloadService: boolean): string {
  const docs = [
    `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: scale}
spec: {addresses: [${POOL}]}`,
    `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: reload}
spec: {addresses: [${RELOAD_VIP}/32]}`,
    `apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: all}
spec: {ipAddressPools: [scale, reload]}`,
  ];
  for (let i = 0; i < VIPS; i++) {
    docs.push(`apiVersion: v1
kind: Service
metadata: {name: s${i}, annotations: {metallb.io/address-pool: scale}}
spec: {type: LoadBalancer, ipFamilies: [IPv${FAMILY}], ports: [{port: 80, protocol: TCP}]}`);
  }
  if (withReloadService) {
    docs.push(`apiVersion: v1
kind: Service
metadata: {name: reloaded, annotations: {metallb.io/address-pool: reload}}
spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}]}`);
  }
  return docs.join("\n---\n") + "\n";
}

/** The VIPs keepalived gets: as many addresses of the same pool as vipd's services. */
const keepalivedVips = (): string[] =>
  Array.from({ length: VIPS }, (_, i) =>
    FAMILY === 6 ? `${POOL_PREFIX}${(i + 1).toString(16)}` : `198.18.${64 + ((i + 1) >> 8)}.${(i + 1) & 255}`,
  );

async function vipdAtScale(lab: Lab, capture: AgentHandle): Promise<Record<string, unknown>> {
  const result: Record<string, unknown> = { system: "vipd, default profile (lan)" };
  let takenOver: string[][] | undefined;
  const monitor = await AddressMonitor.start(lab, POOL_PREFIX);
  const startAt = process.hrtime.bigint();
  const startWall = Date.now();
  // Timed the way keepalived is (bench/scale-keepalived.ts): by the addresses in the kernels only. Waiting
  // for each node's readiness here polled `vipd status` every 100 ms per node: three Node processes at a
  // time, ~0.5 s of CPU each, on the 2 cores the three booting daemons share (they come after, untimed).
  const cluster = await VipdCluster.start(lab, manifest(false), { noReadyWait: [1, 2, 3] });
  try {
    const { at: allHeldAt, held } = await monitor.allHeld(VIPS, START_WAIT_MS);
    if (allHeldAt === undefined)
      throw new Error(
        `vipd: not all ${VIPS} VIPs held after ${START_WAIT_MS} ms (held: ${held.map((h) => h.size)})`,
      );
    result.startToAllHeldMs = Math.round(msBetween(startAt, allHeldAt));
    result.perNode = held.map((s) => s.size);
    result.startTrace = startTrace(cluster, startWall);
    await Promise.all(cluster.nodes.map((node) => cluster.waitReady(node, 120_000)));
    // Let start-up settle before measuring steady state (STEADY_SETTLE_MS; and, in a diagnostic run,
    // before the reload: as in a full run, which measures steady state first).
    await sleep(STEADY_SETTLE_MS);
    if (STEADY_ONLY) {
      const pids = await Promise.all(cluster.nodes.map((n) => cluster.daemonPid(n)));
      result.steadyDetail = await steadyDetail(
        cluster.nodes.map((n, i) => ({ node: n.name, pid: pids[i] as number })),
        Number(process.env.BENCH_STEADY_S ?? 30),
      );
      return result;
    }
    if (!QUICK) {
      const pids = await Promise.all(cluster.nodes.map((n) => cluster.daemonPid(n)));
      result.steadyState = await steadyState(
        cluster.nodes.map((n, i) => ({
          node: n.name,
          pids: pids[i] === undefined ? [] : [pids[i] as number],
        })),
        STEADY_WINDOW_S,
      );
    }

    // Reload, on the healthy cluster: one IPv4 service added among the 10,000, written to every node at once.
    if (PHASES.has("reload")) {
      capture.events.length = 0;
      const text = manifest(true);
      const writeAt = process.hrtime.bigint();
      const writeWall = Date.now();
      for (const node of cluster.nodes) writeFileSync(node.manifestPath, text);
      await waitFor(() => capturedGarps(capture, RELOAD_VIP, writeAt).length > 0, RELOAD_WAIT_MS, 5);
      const garp = capturedGarps(capture, RELOAD_VIP, writeAt)[0];
      result.reload = {
        services: VIPS + 1,
        writeToGarpMs: garp ? Math.round(msBetween(writeAt, garp.at)) : null,
        note: garp
          ? "includes the ARP probe of a new IPv4 VIP (cluster.arpProbeMs, default 100 ms)"
          : `no GARP within ${RELOAD_WAIT_MS} ms`,
      };
      await sleep(2000);
      // Read after the pause: the daemons' log lines reach us through pipes, later than their frames.
      (result.reload as Record<string, unknown>).trace = reloadTrace(cluster, writeWall);
    }
    if (!PHASES.has("crash")) return result;

    // Kill the node holding the most VIPs; time until each of them is announced by a survivor.
    // Who holds what now, not at start-up: hand-overs after start-up move VIPs.
    const now = await heldBy(lab, POOL_PREFIX);
    const victim = now.reduce((best, s, i) => (s.size > now[best].size ? i : best), 0) + 1;
    const victimVips = now[victim - 1];
    capture.events.length = 0;
    // The survivors' CPU from the kill until every VIP is announced: on this noisy 2-core host a steadier
    // figure of a takeover's cost than its wall time.
    const survivors = cluster.nodes.filter((n) => n.n !== victim);
    const survivorPids = await Promise.all(survivors.map((n) => cluster.daemonPid(n)));
    const ticksAtKill = survivorPids.map((pid) => (pid === undefined ? NaN : procSample(pid).cpuTicks));
    const threadsAtKill = survivorPids.map((pid) => (pid === undefined ? undefined : threadSamples(pid)));
    const killedAt = process.hrtime.bigint();
    const killedWall = Date.now();
    cluster.signal(victim, "SIGKILL");
    const seen = new FirstAnnouncements(capture, killedAt, cluster.node(victim).member.eth0.mac);
    const complete = await waitForAnnouncements(seen, victimVips);
    const ticksPerS = clockTicksPerSecond();
    const survivorCpuMs = survivorPids.map((pid, i) =>
      pid === undefined
        ? null
        : Math.round(((procSample(pid).cpuTicks - (ticksAtKill[i] ?? NaN)) * 1000) / ticksPerS),
    );
    // Where that CPU went (10 ms ticks): the main thread (its system share is the kernel's adds and sends,
    // and log writes), the gossip thread, and the rest (V8's GC helpers, libuv's pool).
    const survivorThreadsMs = survivorPids.map((pid, i) => {
      const at = threadsAtKill[i];
      if (pid === undefined || at === undefined) return null;
      const split = threadSplit(pid, at, threadSamples(pid));
      const ms = (ticks: number): number => Math.round((ticks * 1000) / ticksPerS);
      return {
        main: ms(split.main),
        mainSystem: ms(split.mainSystem),
        gossip: ms(split.gossip),
        other: ms(split.other),
      };
    });
    // The daemons' log lines reach us through pipes, later than their frames (the reload phase waits too): a
    // 1,000-VIP takeover's nodeAssigned and addressAdded lines were not all in yet when its last frame was.
    await sleep(1500);
    // Detection: the first survivor log line declaring the victim dead.
    let detectedWall = Infinity;
    for (const node of cluster.nodes.filter((n) => n.n !== victim)) {
      for (const entry of logEntries(node.failoverLines.join("\n"), killedWall))
        if (entry.event === "memberDead" || entry.event === "memberLeave")
          detectedWall = Math.min(detectedWall, entry.at);
    }
    const detectionMs = detectedWall - killedWall;
    result.crash = {
      victim: `node${victim}`,
      victimVips: victimVips.size,
      detectionMs,
      ...announcementSummary(seen.times(victimVips), victimVips.size, complete),
      goalAfterDetectionMs: 1000,
      survivorCpuMs,
      survivorThreadsMs,
    };
    const lastAnnouncedMs = (result.crash as { lastAnnouncedMs: number | null }).lastAnnouncedMs;
    result.trace = crashTrace(cluster, victim, victimVips, killedWall, lastAnnouncedMs);
    if (complete) {
      const crash = result.crash as Record<string, number>;
      crash.allAnnouncedAfterDetectionMs = crash.allAnnouncedMs - detectionMs;
    } else {
      result.crashDiagnosis = await diagnose(cluster, victim, seen.diagnose(victimVips, capture));
    }

    result.membership = membershipChurn(cluster);
    // The kernel floor is the denominator of "time after detection", which exists only when every VIP was
    // re-announced: at 10,000 IPv6 VIPs on a slow host (none re-announced all within the cap) deleting and
    // re-adding them took ~40 s of `npm run bench`'s 15 minutes for a ratio that could not be formed.
    if (complete) {
      const after = await heldBy(lab, POOL_PREFIX);
      takenOver = after.map((ips, i) =>
        i === victim - 1 ? [] : [...ips].filter((ip) => victimVips.has(ip)),
      );
    }
  } finally {
    // A profiled run (VIPD_LAB_NODE_FLAGS=--cpu-prof) needs the daemons to exit for their profiles.
    await cluster.stop(PROFILING ? "SIGTERM" : "SIGKILL");
  }
  // A profiled run's graceful stop removed the addresses the floor deletes and adds again.
  if (takenOver?.some((ips) => ips.length > 0) && !PROFILING)
    result.kernel = await kernelFloor(lab, takenOver);
  return result;
}

/**
 * The kernel's own time for the adds the survivors made: each survivor's taken-over VIPs are deleted and
 * added again with `ip -batch` on the same interface (its other VIPs still there), all survivors at once as
 * in the failover. The floor for "time after detection".
 */
async function kernelFloor(
  lab: Lab,
  perNode: ReadonlyArray<readonly string[]>,
): Promise<Record<string, unknown>> {
  const nodes = lab.nodes
    .map((m, i) => ({ ns: m.ns, ips: perNode[i] ?? [] }))
    .filter((n) => n.ips.length > 0);
  const line = (verb: string, ip: string): string =>
    `addr ${verb} ${ip}/${HOST_BITS} dev eth0${verb === "add" && FAMILY === 6 ? " nodad noprefixroute" : ""}`;
  await Promise.all(
    nodes.map((n) =>
      lab.ipBatch(
        n.ns,
        n.ips.map((ip) => line("del", ip)),
      ),
    ),
  );
  const t = performance.now();
  await Promise.all(
    nodes.map((n) =>
      lab.ipBatch(
        n.ns,
        n.ips.map((ip) => line("add", ip)),
      ),
    ),
  );
  return {
    addMs: Math.round(performance.now() - t),
    adds: nodes.map((n) => n.ips.length),
    note: "ip -batch of the survivors' taken-over VIPs, re-added on the same eth0, survivors in parallel",
  };
}

/**
 * Where start-up's time went, per node (ms after the cluster's start, from its log): started, ready, first
 * and last probe, first and last address added.
 */
function startTrace(cluster: VipdCluster, startWall: number): Array<Record<string, number | string | null>> {
  return cluster.nodes.map((node) => {
    const first = new Map<string, number>();
    const last = new Map<string, number>();
    for (const entry of logEntries(node.log, startWall)) {
      const event = String(entry.event);
      if (!first.has(event)) first.set(event, entry.at - startWall);
      last.set(event, entry.at - startWall);
    }
    return {
      node: node.name,
      startedMs: first.get("started") ?? null,
      readyMs: first.get("ready") ?? null,
      firstProbeMs: first.get("arpProbe") ?? null,
      lastProbeMs: last.get("arpProbe") ?? null,
      firstAddedMs: first.get("addressAdded") ?? null,
      lastAddedMs: last.get("addressAdded") ?? null,
    };
  });
}

/**
 * Where a reload's time went, from the logs of the node that added the reload VIP (ms after the write, 1 ms
 * resolution): config loaded (watch + settle + load + allocate), the VIP assigned to that node (election,
 * after every peer reported the new manifest), ARP probe done, address added.
 */
function reloadTrace(cluster: VipdCluster, writeWall: number): Record<string, number | null> {
  for (const node of cluster.nodes) {
    const at: Record<string, number> = {};
    for (const entry of logEntries(node.log, writeWall)) {
      const event = String(entry.event);
      const ips = String(entry.ip ?? "").split(",");
      const key =
        event === "configLoaded"
          ? "configLoadedMs"
          : ips.includes(RELOAD_VIP) && event === "nodeAssigned" && entry.to === node.name
            ? "assignedMs"
            : ips.includes(RELOAD_VIP) && event === "arpProbe"
              ? "probedMs"
              : ips.includes(RELOAD_VIP) && event === "addressAdded"
                ? "addedMs"
                : undefined;
      if (key && at[key] === undefined) at[key] = entry.at - writeWall;
    }
    if (at.addedMs !== undefined)
      return {
        configLoadedMs: at.configLoadedMs ?? null,
        assignedMs: at.assignedMs ?? null,
        probedMs: at.probedMs ?? null,
        addedMs: at.addedMs,
      };
  }
  return { configLoadedMs: null, assignedMs: null, probedMs: null, addedMs: null };
}

/**
 * Where the failover's time went, from the survivors' logs (1 ms resolution) and the client's capture:
 * detection (SIGKILL -> first survivor declares the victim dead), decision (-> the first and the last
 * survivor's `takeover` line: the step that hands its adds to the kernel; the per-VIP nodeAssigned lines come
 * after the adds), netlink (first decision -> first and last addressAdded of a victim VIP), send (last
 * addressAdded -> last first-announcement at the client).
 */
function crashTrace(
  cluster: VipdCluster,
  victim: number,
  victimVips: ReadonlySet<string>,
  killedWall: number,
  lastAnnouncedMs: number | null,
): Record<string, number | null> {
  const victimName = cluster.node(victim).name;
  let detected = Infinity;
  let firstDecided = Infinity;
  let lastDecided = -Infinity;
  let firstAdded = Infinity;
  let lastAdded = -Infinity;
  const tookOver = new Set<string>();
  for (const node of cluster.nodes.filter((n) => n.n !== victim)) {
    // The membership and takeover lines too: at 10,000 VIPs they may be older than the log's kept tail.
    for (const entry of logEntries(`${node.failoverLines.join("\n")}\n${node.log}`, killedWall)) {
      const at = entry.at;
      const event = String(entry.event);
      const ips = String(entry.ip ?? "").split(",");
      if (
        (event === "memberDead" || event === "memberLeave") &&
        String(entry.msg ?? "").startsWith(victimName)
      )
        detected = Math.min(detected, at);
      else if (event === "takeover" && at >= detected) {
        // The first takeover of each survivor after the death (lines of the start-up's come before it).
        if (!tookOver.has(node.name)) {
          tookOver.add(node.name);
          firstDecided = Math.min(firstDecided, at);
          lastDecided = Math.max(lastDecided, at);
        }
      } else if (event === "addressAdded" && ips.some((ip) => victimVips.has(ip))) {
        firstAdded = Math.min(firstAdded, at);
        lastAdded = Math.max(lastAdded, at);
      }
    }
  }
  const since = (a: number, b: number): number | null =>
    Number.isFinite(a) && Number.isFinite(b) ? a - b : null;
  return {
    detectionMs: since(detected, killedWall),
    decisionFirstMs: since(firstDecided, detected),
    decisionLastMs: since(lastDecided, detected),
    netlinkFirstMs: since(firstAdded, firstDecided),
    netlinkLastMs: since(lastAdded, firstDecided),
    sendLastMs: lastAnnouncedMs === null ? null : since(killedWall + lastAnnouncedMs, lastAdded),
  };
}

/** The lab harness stops vipd with SIGKILL, which leaves its VIPs: remove them so keepalived starts clean. */
async function clearPool(lab: Lab): Promise<void> {
  const left = await heldBy(lab, POOL_PREFIX);
  for (const [i, ips] of left.entries())
    if (ips.size > 0)
      await lab.ipBatch(
        lab.nodes[i].ns,
        [...ips].map((ip) => `addr del ${ip}/${HOST_BITS} dev eth0`),
      );
}

/** Time caps per phase: the whole `npm run bench` must stay under 15 minutes even when vipd misses. */
const START_WAIT_MS = 120_000;
/** Seconds of RSS/CPU sampling in steady state, both systems. */
export const STEADY_WINDOW_S = 6;
const RELOAD_WAIT_MS = 20_000;

/** Survivors' view when the crash phase did not complete: frames they sent and still queue, their health. */
async function diagnose(
  cluster: VipdCluster,
  victim: number,
  capture: string,
): Promise<Record<string, unknown>> {
  const nodes: Record<string, unknown> = {};
  for (const node of cluster.nodes.filter((n) => n.n !== victim)) {
    const text = await cluster.metrics(node.n);
    const sum = (name: string): number =>
      text
        .split("\n")
        .filter((l) => l.startsWith(name))
        .reduce((acc, l) => acc + Number(l.split(" ").pop()), 0);
    nodes[node.name] = {
      framesSent: sum("vipd_gratuitous_sent_total"),
      framesQueued: sum("vipd_gratuitous_queued"),
      sendErrors: sum("vipd_gratuitous_errors_total"),
      localHealthScore: sum("vipd_gossip_local_health_score"),
    };
  }
  return { capture, nodes };
}

/** Members declared dead or rejoining during the run, from every node's log: churn that a stall causes. */
function membershipChurn(cluster: VipdCluster): Record<string, number> {
  const count = (event: string): number =>
    cluster.nodes.reduce((n, node) => n + (node.events.get(event) ?? 0), 0);
  return {
    memberDead: count("memberDead"),
    memberJoin: count("memberJoin"),
    nodeAssigned: count("nodeAssigned"),
  };
}

/** The largest of one steady-state figure over the nodes. */
function maxOf(side: Record<string, unknown>, key: "rssMb" | "cpuPercent"): number | undefined {
  const nodes = side.steadyState as Array<Record<string, number>> | undefined;
  return nodes && nodes.length > 0 ? Math.max(...nodes.map((n) => n[key])) : undefined;
}

const ratio = (a: unknown, b: unknown): number | null =>
  typeof a === "number" && typeof b === "number" && b > 0 ? Math.round((a / b) * 100) / 100 : null;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("the scale bench builds a network lab and needs root");
  const keepalivedVersion = ensureKeepalived();
  const started = Date.now();
  const lab = await Lab.create({ nodes: 3 });
  const result: Record<string, unknown> = {
    bench: "scale",
    vips: VIPS,
    family:
      FAMILY === 6 ? `IPv6 (${POOL})` : `IPv4 (${POOL}, RFC 2544's benchmark range, lab namespaces only)`,
    keepalived: keepalivedVersion,
  };
  try {
    if (FAMILY === 4) {
      // The VIPs' subnet on every member's eth0, so vipd finds an interface for them; from the top of the
      // range, so that the text prefix `198.18.` matches VIPs only.
      for (const [i, m] of lab.nodes.entries())
        await lab.ipBatch(m.ns, [`addr add 198.19.255.${i + 1}/15 dev eth0`]);
      await lab.ipBatch(lab.client.ns, ["addr add 198.19.255.200/15 dev eth0"]);
    }
    const capture = await startCapture(lab);
    const vipd = await vipdAtScale(lab, capture);
    if (QUICK || STEADY_ONLY) {
      console.log(JSON.stringify(vipd, null, 2));
      return;
    }
    await clearPool(lab);
    const keepalived = await keepalivedAtScale(
      lab,
      capture,
      keepalivedVips(),
      POOL_PREFIX,
      RELOAD_VIP,
      STEADY_WINDOW_S,
    );
    const crash = (r: Record<string, unknown>): Record<string, unknown> =>
      (r.crash ?? {}) as Record<string, unknown>;
    const reload = (r: Record<string, unknown>): Record<string, unknown> =>
      (r.reload ?? {}) as Record<string, unknown>;
    result.systems = { vipd, keepalived };
    result.ratioVipdToKeepalived = {
      startToAllHeld: ratio(vipd.startToAllHeldMs, keepalived.startToAllHeldMs),
      steadyRssMax: ratio(maxOf(vipd, "rssMb"), maxOf(keepalived, "rssMb")),
      steadyCpuMax: ratio(maxOf(vipd, "cpuPercent"), maxOf(keepalived, "cpuPercent")),
      crashAllAnnounced: ratio(crash(vipd).allAnnouncedMs, crash(keepalived).allAnnouncedMs),
      crashAfterDetectionToKernel: ratio(
        crash(vipd).allAnnouncedAfterDetectionMs,
        (vipd.kernel as { addMs?: number } | undefined)?.addMs,
      ),
      crashAllAnnouncedAfterFirst: ratio(
        crash(vipd).allAnnouncedAfterFirstMs,
        crash(keepalived).allAnnouncedAfterFirstMs,
      ),
      reloadWriteToGarp: ratio(reload(vipd).writeToGarpMs, reload(keepalived).writeToGarpMs),
    };
  } finally {
    await lab.destroy();
  }
  result.command = `BENCH_FAMILY=${FAMILY} BENCH_VIPS=${VIPS} node dist/bench/scale.js`;
  result.durationS = Math.round((Date.now() - started) / 1000);
  const dir = join(__dirname, "..", "..", "bench", "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${RESULT}.json`), JSON.stringify(result, null, 2) + "\n");
  console.log(JSON.stringify(result, (k, v: unknown) => (k === "curve" ? undefined : v), 2));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
