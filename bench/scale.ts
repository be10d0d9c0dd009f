// 10,000 VIPs over a 3-node vipd lab: RSS and CPU per node in steady state, the time until every VIP of a
// SIGKILLed node is announced again by the survivors (first unsolicited NA per VIP at the client), and reload
// latency (write of a manifest adding one IPv4 service among the 10,000 -> first GARP at the client).
// The VIPs are IPv6 (2001:db8:100::1:0/112, inside the lab's 2001:db8:100::/64 so the nodes have an
// interface on their subnet): the IPv4 lab ranges (198.51.100.0/24, 203.0.113.0/24) hold only 508 addresses. Writes bench/results/scale.json. Run: node dist/bench/scale.js (root). BENCH_VIPS overrides
// 10000.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseNeighborAdvertisementFrame } from "../lib/net/ndp-frame";
import type { AgentHandle } from "../test/lab/agent-protocol";
import { VipdCluster } from "../test/lab/cluster";
import { Lab } from "../test/lab/lab";
import { capturedGarps, msBetween, sleep, startCapture } from "../test/lab/lab-helpers";

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

async function heldBy(lab: Lab): Promise<Array<Set<string>>> {
  const out: Array<Set<string>> = [];
  for (const member of lab.nodes) {
    const text = await lab.ip(member.ns, "-j", "addr", "show", "dev", "eth0");
    const links = JSON.parse(text) as Array<{ addr_info?: Array<{ local?: string }> }>;
    out.push(
      new Set(
        links
          .flatMap((l) => (l.addr_info ?? []).map((a) => a.local ?? ""))
          .filter((ip) => ip.startsWith(POOL_PREFIX)),
      ),
    );
  }
  return out;
}

function procStatus(pid: number): { rssMb: number; peakRssMb: number; cpuTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    rssMb: Math.round(kb("VmRSS") / 102.4) / 10,
    peakRssMb: Math.round(kb("VmHWM") / 102.4) / 10,
    cpuTicks: Number(fields[11]) + Number(fields[12]),
  };
}

/** First NA per target since `since` from a MAC other than `exceptMac`, read incrementally. */
class NaTracker {
  private index = 0;
  readonly firstSeen = new Map<string, bigint>();
  constructor(
    private readonly capture: AgentHandle,
    private readonly since: bigint,
    private readonly exceptMac: string,
  ) {}
  update(): void {
    const events = this.capture.events;
    for (; this.index < events.length; this.index++) {
      const e = events[this.index];
      if (e.event !== "frame" || BigInt(e.at) < this.since || e.pkttype === 4) continue;
      const na = parseNeighborAdvertisementFrame(Buffer.from(String(e.hex), "hex"));
      if (!na || na.sourceMac === this.exceptMac || this.firstSeen.has(na.target)) continue;
      this.firstSeen.set(na.target, BigInt(e.at));
    }
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("the scale bench builds a network lab and needs root");
  const started = Date.now();
  const lab = await Lab.create({ nodes: 3 });
  const result: Record<string, unknown> = {
    bench: "scale",
    vips: VIPS,
    family: `IPv6 (${POOL}): the IPv4 lab ranges hold only 508 addresses`,
  };
  try {
    const capture = await startCapture(lab);
    const startAt = process.hrtime.bigint();
    const cluster = await VipdCluster.start(lab, manifest(false), { readyTimeoutMs: 120_000 });
    let held: Array<Set<string>> = [];
    const allHeldMs = await cluster.until(
      `all ${VIPS} VIPs held`,
      async () => {
        held = await heldBy(lab);
        return held.reduce((n, s) => n + s.size, 0) >= VIPS;
      },
      120_000,
      500,
    );
    result.startToAllHeldMs = Math.round(msBetween(startAt, process.hrtime.bigint()));
    void allHeldMs;
    result.perNode = held.map((s) => s.size);
    // Let the takeover bursts (5 rounds, paced) finish before measuring steady state.
    await sleep(8000);
    const pids = await Promise.all(cluster.nodes.map((n) => cluster.daemonPid(n)));
    const before = pids.map((pid) => procStatus(pid ?? 0));
    const windowS = 10;
    await sleep(windowS * 1000);
    const after = pids.map((pid) => procStatus(pid ?? 0));
    const ticksPerS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    result.steadyState = after.map((a, i) => ({
      node: cluster.nodes[i].name,
      rssMb: a.rssMb,
      peakRssMb: a.peakRssMb,
      cpuPercent: Math.round(((a.cpuTicks - before[i].cpuTicks) / ticksPerS / windowS) * 1000) / 10,
    }));

    // Kill the node holding the most VIPs; time until each of them is announced by a survivor.
    const victim = held.reduce((best, s, i) => (s.size > held[best].size ? i : best), 0) + 1;
    const victimVips = held[victim - 1];
    capture.events.length = 0;
    const killedAt = process.hrtime.bigint();
    const killedWall = Date.now();
    cluster.signal(victim, "SIGKILL");
    const tracker = new NaTracker(capture, killedAt, cluster.node(victim).member.eth0.mac);
    const missing = (): number => [...victimVips].filter((ip) => !tracker.firstSeen.has(ip)).length;
    await cluster
      .until(
        `every VIP of node${victim} announced again`,
        async () => {
          tracker.update();
          return missing() === 0;
        },
        60_000,
        50,
      )
      .catch(async (error: unknown) => {
        const survivors = (await heldBy(lab)).filter((_, i) => i !== victim - 1);
        const unheld = [...victimVips].filter((ip) => !survivors.some((s) => s.has(ip))).length;
        throw new Error(
          `${(error as Error).message}: ${missing()} of ${victimVips.size} never seen at the client; ` +
            `${unheld} not held by any survivor; ${capture.events.length} capture events`,
        );
      });
    const times = [...victimVips].map((ip) => msBetween(killedAt, tracker.firstSeen.get(ip) ?? 0n));
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
      firstAnnouncedMs: Math.round(Math.min(...times)),
      allAnnouncedMs: Math.round(Math.max(...times)),
      allAnnouncedAfterDetectionMs: Math.round(Math.max(...times) - detectionMs),
      goalAfterDetectionMs: 1000,
    };
    cluster.launch(cluster.node(victim));
    await cluster.waitReady(cluster.node(victim), 60_000);
    await sleep(3000);

    // Reload: one IPv4 service added among the 10,000, written to every node's manifest at once.
    capture.events.length = 0;
    const text = manifest(true);
    const writeAt = process.hrtime.bigint();
    for (const node of cluster.nodes) writeFileSync(node.manifestPath, text);
    await cluster.until(
      `a GARP for ${RELOAD_VIP}`,
      async () => capturedGarps(capture, RELOAD_VIP, writeAt).length > 0,
      30_000,
      5,
    );
    const garp = capturedGarps(capture, RELOAD_VIP, writeAt)[0];
    result.reload = {
      services: VIPS + 1,
      writeToGarpMs: Math.round(msBetween(writeAt, garp.at)),
      note: "includes the ARP probe of a new IPv4 VIP (cluster.arpProbeMs, default setting)",
    };
    await cluster.stop();
  } finally {
    await lab.destroy();
  }
  result.command = "node dist/bench/scale.js";
  result.durationS = Math.round((Date.now() - started) / 1000);
  const dir = join(__dirname, "..", "..", "bench", "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "scale.json"), JSON.stringify(result, null, 2) + "\n");
  console.log(result);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
