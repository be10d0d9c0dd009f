// 10,000 VIPs over a 3-node lab, vipd and then keepalived (bench/scale-keepalived.ts) in the same lab and run:
// start-up until every VIP is held, RSS and CPU per node in steady state, reload latency (write of a config
// adding one IPv4 VIP among the 10,000 -> first GARP at the client), then the time until every VIP of a
// SIGKILLed node is announced again by the survivors (first unsolicited NA per VIP at the client).
// The VIPs are IPv6 (2001:db8:100::1:0/112, inside the lab's 2001:db8:100::/64 so the nodes have an
// interface on their subnet): the IPv4 lab ranges (198.51.100.0/24, 203.0.113.0/24) hold only 508 addresses. Writes bench/results/scale.json. Run: node dist/bench/scale.js (root). BENCH_VIPS overrides
// 10000.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AgentHandle } from "../test/lab/agent-protocol";
import { VipdCluster } from "../test/lab/cluster";
import { Lab } from "../test/lab/lab";
import { capturedGarps, msBetween, sleep, startCapture } from "../test/lab/lab-helpers";
import { ensureKeepalived } from "./keepalived";
import { keepalivedAtScale } from "./scale-keepalived";
import { announcementSummary, FirstAnnouncements, heldBy, steadyState, waitFor } from "./scale-common";

const VIPS = Number(process.env.BENCH_VIPS ?? 10_000);
const RELOAD_VIP = "198.51.100.80";
/** Inside the lab subnet 2001:db8:100::/64, clear of the node (::1-::3), client (::200) and example addresses. */
const POOL = "2001:db8:100::1:0/112";
const POOL_PREFIX = "2001:db8:100::1:";

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
spec: {type: LoadBalancer, ipFamilies: [IPv6], ports: [{port: 80, protocol: TCP}]}`);
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
  Array.from({ length: VIPS }, (_, i) => `${POOL_PREFIX}${(i + 1).toString(16)}`);

async function vipdAtScale(lab: Lab, capture: AgentHandle): Promise<Record<string, unknown>> {
  const result: Record<string, unknown> = { system: "vipd, default profile (lan)" };
  const startAt = process.hrtime.bigint();
  const cluster = await VipdCluster.start(lab, manifest(false), { readyTimeoutMs: 120_000 });
  try {
    let held: Array<Set<string>> = [];
    const allHeld = async (): Promise<boolean> => {
      held = await heldBy(lab, POOL_PREFIX);
      return held.reduce((n, s) => n + s.size, 0) >= VIPS;
    };
    if (!(await waitFor(allHeld, START_WAIT_MS, 500)))
      throw new Error(
        `vipd: not all ${VIPS} VIPs held after ${START_WAIT_MS} ms (held: ${held.map((h) => h.size)})`,
      );
    result.startToAllHeldMs = Math.round(msBetween(startAt, process.hrtime.bigint()));
    result.perNode = held.map((s) => s.size);
    // Let the takeover bursts (5 rounds, 1 s apart) finish before measuring steady state.
    await sleep(4000);
    const pids = await Promise.all(cluster.nodes.map((n) => cluster.daemonPid(n)));
    result.steadyState = await steadyState(
      cluster.nodes.map((n, i) => ({ node: n.name, pids: pids[i] === undefined ? [] : [pids[i] as number] })),
      STEADY_WINDOW_S,
    );

    // Reload, on the healthy cluster: one IPv4 service added among the 10,000, written to every node at once.
    capture.events.length = 0;
    const text = manifest(true);
    const writeAt = process.hrtime.bigint();
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

    // Kill the node holding the most VIPs; time until each of them is announced by a survivor.
    const victim = held.reduce((best, s, i) => (s.size > held[best].size ? i : best), 0) + 1;
    const victimVips = held[victim - 1];
    capture.events.length = 0;
    const killedAt = process.hrtime.bigint();
    const killedWall = Date.now();
    cluster.signal(victim, "SIGKILL");
    const seen = new FirstAnnouncements(capture, killedAt, cluster.node(victim).member.eth0.mac);
    const complete = await waitFor(() => {
      seen.update();
      return seen.missing(victimVips) === 0;
    }, CRASH_WAIT_MS);
    // Detection: the first survivor log line declaring the victim dead.
    let detectedWall = Infinity;
    for (const node of cluster.nodes.filter((n) => n.n !== victim)) {
      for (const line of node.log.split("\n")) {
        if (!line.includes('"memberDead"') && !line.includes('"memberLeave"')) continue;
        const at = Date.parse(String((JSON.parse(line) as { time?: string }).time));
        if (at >= killedWall - 1) detectedWall = Math.min(detectedWall, at);
      }
    }
    const detectionMs = detectedWall - killedWall;
    result.crash = {
      victim: `node${victim}`,
      victimVips: victimVips.size,
      detectionMs,
      ...announcementSummary(seen.times(victimVips), victimVips.size, complete),
      goalAfterDetectionMs: 1000,
    };
    if (complete) {
      const crash = result.crash as Record<string, number>;
      crash.allAnnouncedAfterDetectionMs = crash.allAnnouncedMs - detectionMs;
    } else {
      result.crashDiagnosis = await diagnose(cluster, victim, seen.diagnose(victimVips, capture));
    }

    result.membership = membershipChurn(cluster);
  } finally {
    await cluster.stop();
  }
  return result;
}

/** The lab harness stops vipd with SIGKILL, which leaves its VIPs: remove them so keepalived starts clean. */
async function clearPool(lab: Lab): Promise<void> {
  const left = await heldBy(lab, POOL_PREFIX);
  for (const [i, ips] of left.entries())
    if (ips.size > 0)
      await lab.ipBatch(
        lab.nodes[i].ns,
        [...ips].map((ip) => `addr del ${ip}/128 dev eth0`),
      );
}

/** Time caps per phase: the whole `npm run bench` must stay under 15 minutes even when vipd misses. */
const START_WAIT_MS = 120_000;
const CRASH_WAIT_MS = 30_000;
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
    family: `IPv6 (${POOL}): the IPv4 lab ranges hold only 508 addresses`,
    keepalived: keepalivedVersion,
  };
  try {
    const capture = await startCapture(lab);
    const vipd = await vipdAtScale(lab, capture);
    await clearPool(lab);
    const keepalived = await keepalivedAtScale(
      lab,
      capture,
      keepalivedVips(),
      POOL_PREFIX,
      RELOAD_VIP,
      STEADY_WINDOW_S,
    );
    const crash = (r: Record<string, unknown>): Record<string, unknown> => r.crash as Record<string, unknown>;
    const reload = (r: Record<string, unknown>): Record<string, unknown> =>
      r.reload as Record<string, unknown>;
    result.systems = { vipd, keepalived };
    result.ratioVipdToKeepalived = {
      startToAllHeld: ratio(vipd.startToAllHeldMs, keepalived.startToAllHeldMs),
      crashAllAnnounced: ratio(crash(vipd).allAnnouncedMs, crash(keepalived).allAnnouncedMs),
      crashAllAnnouncedAfterFirst: ratio(
        crash(vipd).allAnnouncedAfterFirstMs,
        crash(keepalived).allAnnouncedAfterFirstMs,
      ),
      reloadWriteToGarp: ratio(reload(vipd).writeToGarpMs, reload(keepalived).writeToGarpMs),
    };
  } finally {
    await lab.destroy();
  }
  result.command = "node dist/bench/scale.js";
  result.durationS = Math.round((Date.now() - started) / 1000);
  const dir = join(__dirname, "..", "..", "bench", "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "scale.json"), JSON.stringify(result, null, 2) + "\n");
  console.log(JSON.stringify(result, (k, v: unknown) => (k === "curve" ? undefined : v), 2));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
