// Failover, vipd against keepalived, in one 3-node lab and one run: for each system and scenario (SIGKILL of
// the owner's daemon, the owner's link set down, graceful stop) it measures the time from the fault to the
// first gratuitous ARP from a new owner as the client captures it, and the probes the client lost meanwhile
// (UDP every 5 ms to the VIP, echoed by a responder in every node namespace). keepalived runs twice: default
// timers (VRRPv2, advert_int 1) and tuned (VRRPv3, advert_int 0.1), both with vrrp_garp_master_delay 0.
// For vipd each round is also broken down from the new owner's log: detection (member declared dead/left),
// decision (nodeAssigned), netlink (addressAdded) and send (first GARP at the client).
// Writes bench/results/failover.json. Run: node dist/bench/failover.js (root). BENCH_ROUNDS overrides 20;
// BENCH_SYSTEMS and BENCH_SCENARIOS (comma-separated names) narrow a diagnostic run, which then only prints.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { VipdCluster } from "../test/lab/cluster";
import { startAgent, type AgentHandle } from "../test/lab/agent-protocol";
import { Lab, type LabMember } from "../test/lab/lab";
import { capturedGarps, msBetween, sleep, startCapture } from "../test/lab/lab-helpers";
import { logEntries } from "./daemon-log";
import { machine } from "./machine";
import { LinkSwitch } from "./link-switch";
import { ensureKeepalived, KeepalivedNodes, vrrpConfig, waitExit, type VrrpTimers } from "./keepalived";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
/**
 * Rounds for keepalived with its default timers, the reference no goal is measured against: each of its
 * rounds takes ~3-4 s to fail over and as long to fail back, more than vipd's and tuned keepalived's together.
 * BENCH_REFERENCE_ROUNDS lowers it (npm run bench does, to stay under 15 minutes); default ROUNDS.
 */
const REFERENCE_ROUNDS = Number(process.env.BENCH_REFERENCE_ROUNDS ?? ROUNDS);
const PROBE_PORT = 7777;
const PROBE_INTERVAL_MS = 5;
const ALL_SCENARIOS = ["crash", "link", "graceful"] as const;
type Scenario = (typeof ALL_SCENARIOS)[number];
const only = (v: string | undefined): ((name: string) => boolean) => {
  const names = v ? v.split(",") : undefined;
  return (name) => names === undefined || names.includes(name);
};
const SCENARIOS = ALL_SCENARIOS.filter(only(process.env.BENCH_SCENARIOS));
const PARTIAL = process.env.BENCH_SYSTEMS !== undefined || process.env.BENCH_SCENARIOS !== undefined;
const SCENARIO_TEXT: Record<Scenario, string> = {
  crash: "SIGKILL of the owner's daemon",
  link: "owner's link set down",
  graceful: "graceful stop (SIGTERM)",
};

/** One system under test, running in the lab's three node namespaces. */
interface System {
  readonly name: string;
  /** Rounds per scenario. */
  readonly rounds: number;
  readonly description: string;
  readonly vip: string;
  start(): Promise<void>;
  /** Injects the fault on node n; returns as soon as it is done (the clock started right before). */
  fault(n: number, scenario: Scenario): Promise<void>;
  restore(n: number, scenario: Scenario): Promise<void>;
  stop(): Promise<void>;
  /** Per-stage times of one round from the new owner's log (vipd only). */
  breakdown?(
    newOwner: number,
    failed: number,
    faultWallMs: number,
    garpWallMs: number,
  ): Breakdown | undefined;
}

interface Breakdown {
  detectionMs: number;
  decisionMs: number;
  netlinkMs: number;
  sendMs: number;
}

interface Round {
  round: number;
  from: string;
  to: string;
  failoverMs: number;
  lostProbes: number;
  outageMs: number;
  /** False when probes had not flowed again 5 s after the GARP (lostProbes is then a lower bound). */
  recovered: boolean;
  breakdown?: Breakdown;
}

const VIPD_MANIFEST = (vip: string): string => `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bench}
spec: {addresses: [${vip}/32]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: bench}
spec: {ipAddressPools: [bench]}
---
apiVersion: v1
kind: Service
metadata: {name: bench}
spec: {type: LoadBalancer, ports: [{port: ${PROBE_PORT}, protocol: UDP}]}
`;

/** Sets node n's link down (fault) or up (restore), and waits until the kernel shows it. */
async function setLink(links: LinkSwitch, n: number, up: boolean): Promise<void> {
  links.set(n, up);
  await links.confirm(n, up);
}

class VipdSystem implements System {
  readonly name = "vipd";
  readonly rounds = ROUNDS;
  readonly description = "vipd, default profile (lan)";
  private cluster!: VipdCluster;
  constructor(
    private readonly lab: Lab,
    private readonly links: LinkSwitch,
    readonly vip: string,
  ) {}

  async start(): Promise<void> {
    // Generous: on a loaded (or deliberately saturated, bench/flap.ts) host a start-up can take 20 s.
    this.cluster = await VipdCluster.start(this.lab, VIPD_MANIFEST(this.vip), { readyTimeoutMs: 60_000 });
  }

  async fault(n: number, scenario: Scenario): Promise<void> {
    if (scenario === "crash") this.cluster.signal(n, "SIGKILL");
    else if (scenario === "graceful") this.cluster.signal(n, "SIGTERM");
    else await setLink(this.links, n, false);
  }

  async restore(n: number, scenario: Scenario): Promise<void> {
    if (scenario === "link") return setLink(this.links, n, true);
    const node = this.cluster.node(n);
    await waitExit(node.process, 5000);
    this.cluster.launch(node);
    await this.cluster.waitReady(node, 60_000);
  }

  async stop(): Promise<void> {
    for (const node of this.cluster.nodes) await this.cluster.stopNode(node.n, "SIGTERM");
  }

  breakdown(
    newOwner: number,
    failed: number,
    faultWallMs: number,
    garpWallMs: number,
  ): Breakdown | undefined {
    const node = this.cluster.node(newOwner);
    const failedName = this.cluster.node(failed).name;
    let detected: number | undefined;
    let assigned: number | undefined;
    let added: number | undefined;
    for (const entry of logEntries(node.log, faultWallMs)) {
      const at = entry.at;
      const event = String(entry.event);
      const msg = String(entry.msg ?? "");
      if (
        detected === undefined &&
        (event === "memberDead" || event === "memberLeave") &&
        msg.startsWith(failedName)
      )
        detected = at;
      else if (assigned === undefined && event === "nodeAssigned" && entry.to === node.name) assigned = at;
      else if (added === undefined && event === "addressAdded" && entry.ip === this.vip) added = at;
    }
    if (detected === undefined || assigned === undefined || added === undefined) return undefined;
    return {
      detectionMs: detected - faultWallMs,
      decisionMs: assigned - detected,
      netlinkMs: added - assigned,
      sendMs: garpWallMs - added,
    };
  }
}

/** keepalived 2.x, VRRP only, one instance holding the VIP, priorities 100/99/98, preemption on. */
class KeepalivedSystem implements System {
  private readonly nodes: KeepalivedNodes;
  constructor(
    lab: Lab,
    private readonly links: LinkSwitch,
    readonly name: string,
    readonly description: string,
    readonly vip: string,
    timers: VrrpTimers,
    readonly rounds: number,
  ) {
    const instance = { name: "bench", vrid: 51, masterNode: 1, addresses: [`${vip}/32`] };
    this.nodes = new KeepalivedNodes(lab, name, (n) => vrrpConfig(n, timers, [instance]));
  }

  async start(): Promise<void> {
    for (const n of [1, 2, 3]) this.nodes.launch(n);
  }

  async fault(n: number, scenario: Scenario): Promise<void> {
    if (scenario === "link") return setLink(this.links, n, false);
    if (scenario === "graceful") this.nodes.terminate(n);
    else this.nodes.crash(n);
  }

  async restore(n: number, scenario: Scenario): Promise<void> {
    if (scenario === "link") return setLink(this.links, n, true);
    await this.nodes.restart(n);
  }

  async stop(): Promise<void> {
    await this.nodes.stop();
  }
}

async function holders(lab: Lab, ip: string): Promise<number[]> {
  const out: number[] = [];
  for (const [i, member] of lab.nodes.entries()) {
    const text = await lab.ip(member.ns, "-j", "addr", "show", "dev", "eth0");
    const links = JSON.parse(text) as Array<{ addr_info?: Array<{ local?: string }> }>;
    if (links.some((l) => (l.addr_info ?? []).some((a) => a.local === ip))) out.push(i + 1);
  }
  return out;
}

/** Waits until `n` alone holds ip, three checks in a row 50 ms apart. */
async function settled(lab: Lab, ip: string, n: number | undefined, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let streak = 0;
  let last: number[];
  for (;;) {
    last = await holders(lab, ip);
    const ok = last.length === 1 && (n === undefined || last[0] === n);
    streak = ok ? streak + 1 : 0;
    if (streak >= 3) return last[0];
    if (Date.now() > deadline)
      throw new Error(`${ip} did not settle on ${n ? `node${n}` : "one node"} (holders: ${last.join(",")})`);
    await sleep(50);
  }
}

function startResponders(lab: Lab): void {
  for (const member of lab.nodes) {
    const script = `const s=require("dgram").createSocket("udp4");s.on("message",(m,r)=>{s.send(${JSON.stringify(member.role)}+"#"+String(m).split("#")[1],r.port,r.address)});s.bind(${PROBE_PORT})`;
    lab.spawnIn(member.ns, process.execPath, ["-e", script]);
  }
}

async function startProber(lab: Lab, vip: string, expected: LabMember): Promise<AgentHandle> {
  const child = lab.spawnScript(lab.client.ns, "bench/failover-prober.js", [
    vip,
    String(PROBE_PORT),
    String(PROBE_INTERVAL_MS),
    expected.role,
  ]);
  return startAgent(`prober`, child, 5000);
}

async function runSystem(lab: Lab, capture: AgentHandle, system: System): Promise<Record<Scenario, Round[]>> {
  await system.start();
  const home = await settled(lab, system.vip, undefined, 20_000);
  console.log(`${system.name}: ${system.vip} held by node${home}`);
  const results = { crash: [], link: [], graceful: [] } as Record<Scenario, Round[]>;
  for (const scenario of SCENARIOS) {
    for (let round = 1; round <= system.rounds; round++) {
      await settled(lab, system.vip, home, 20_000);
      const homeMember = lab.node(home);
      const prober = await startProber(lab, system.vip, homeMember);
      capture.events.length = 0;
      await sleep(30);
      const faultAt = process.hrtime.bigint();
      const faultWall = Date.now();
      await system.fault(home, scenario);
      const deadline = Date.now() + 15_000;
      let garp;
      for (;;) {
        garp = capturedGarps(capture, system.vip, faultAt).find((f) => f.senderMac !== homeMember.eth0.mac);
        if (garp || Date.now() > deadline) break;
        await sleep(2);
      }
      if (!garp) throw new Error(`${system.name} ${scenario} round ${round}: no GARP from a new owner`);
      prober.child.stdin?.write(`stop ${garp.at}\n`);
      const summary = await prober.waitEvent((e) => e.event === "summary", 12_000, "probe summary");
      const sentAt = (summary.sentAt as string[]).map(BigInt);
      const lost = (summary.lost as number[]).filter((seq) => (sentAt[seq] ?? 0n) >= faultAt);
      let longest = 0;
      let run = 0;
      for (let i = 0; i < lost.length; i++) {
        run = i > 0 && lost[i] === lost[i - 1] + 1 ? run + 1 : 1;
        longest = Math.max(longest, run);
      }
      const to = lab.nodes.findIndex((m) => m.eth0.mac === garp.senderMac) + 1;
      const failoverMs = msBetween(faultAt, garp.at);
      const r: Round = {
        round,
        from: `node${home}`,
        to: `node${to}`,
        failoverMs: Math.round(failoverMs * 10) / 10,
        lostProbes: lost.length,
        outageMs: longest * PROBE_INTERVAL_MS,
        recovered: summary.recovered === true,
      };
      const breakdown = system.breakdown?.(to, home, faultWall, faultWall + failoverMs);
      if (breakdown) r.breakdown = breakdown;
      results[scenario].push(r);
      console.log(
        `  ${scenario} #${round}: ${r.failoverMs} ms to ${r.to}, ${r.lostProbes} probes lost` +
          (breakdown ? ` (${JSON.stringify(breakdown)})` : ""),
      );
      await system.restore(home, scenario);
    }
  }
  await system.stop();
  return results;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

function stats(values: readonly number[]): Record<string, number> {
  const sorted = [...values].sort((a, b) => a - b);
  const r = (x: number): number => Math.round(x * 10) / 10;
  return {
    p50: r(percentile(sorted, 50)),
    p90: r(percentile(sorted, 90)),
    p99: r(percentile(sorted, 99)),
    max: r(sorted[sorted.length - 1] ?? NaN),
  };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("the failover bench builds a network lab and needs root");
  const keepalivedVersion = ensureKeepalived();
  const started = Date.now();
  const lab = await Lab.create({ nodes: 3 });
  const links = new LinkSwitch(lab);
  for (const n of [1, 2, 3]) links.prepare(n);
  const systems: System[] = [
    new VipdSystem(lab, links, "198.51.100.50"),
    new KeepalivedSystem(
      lab,
      links,
      "keepalived-tuned",
      "keepalived, VRRPv3, advert_int 0.1",
      "198.51.100.71",
      {
        version: 3,
        advertInt: "0.1",
      },
      ROUNDS,
    ),
    new KeepalivedSystem(
      lab,
      links,
      "keepalived-default",
      "keepalived, VRRPv2, advert_int 1",
      "198.51.100.70",
      {
        version: 2,
        advertInt: "1",
      },
      REFERENCE_ROUNDS,
    ),
  ].filter((s) => only(process.env.BENCH_SYSTEMS)(s.name));
  const out: Record<string, unknown> = {};
  try {
    startResponders(lab);
    const capture = await startCapture(lab);
    for (const system of systems) {
      const rounds = await runSystem(lab, capture, system);
      out[system.name] = {
        description: system.description,
        rounds: system.rounds,
        vip: system.vip,
        ...Object.fromEntries(
          SCENARIOS.map((s) => [
            s,
            {
              failoverMs: stats(rounds[s].map((r) => r.failoverMs)),
              lostProbes: stats(rounds[s].map((r) => r.lostProbes)),
              rounds: rounds[s],
            },
          ]),
        ),
      };
    }
  } finally {
    links.close();
    await lab.destroy();
  }
  if (PARTIAL) {
    // BENCH_OUT: where a partial run's results go (bench/flap.ts runs crash and link under load this way).
    if (process.env.BENCH_OUT)
      writeFileSync(
        process.env.BENCH_OUT,
        JSON.stringify({ at: new Date().toISOString(), rounds: ROUNDS, systems: out }, null, 2) + "\n",
      );
    console.log(JSON.stringify(out, null, 2));
    return;
  }
  const ratio = (s: Scenario, p: string): number => {
    const v = (out.vipd as Record<Scenario, { failoverMs: Record<string, number> }>)[s].failoverMs[p];
    const k = (out["keepalived-tuned"] as Record<Scenario, { failoverMs: Record<string, number> }>)[s]
      .failoverMs[p];
    return Math.round((v / k) * 1000) / 1000;
  };
  const result = {
    bench: "failover",
    command: "npm run bench (node dist/bench/failover.js)",
    at: new Date().toISOString(),
    machine: { ...machine(), keepalived: keepalivedVersion },
    rounds: ROUNDS,
    probeIntervalMs: PROBE_INTERVAL_MS,
    scenarios: SCENARIO_TEXT,
    durationS: Math.round((Date.now() - started) / 1000),
    ratioVipdToKeepalivedTuned: Object.fromEntries(
      SCENARIOS.map((s) => [s, { p50: ratio(s, "p50"), p99: ratio(s, "p99") }]),
    ),
    systems: out,
  };
  const dir = join(__dirname, "..", "..", "bench", "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "failover.json"), JSON.stringify(result, null, 2) + "\n");
  console.log(JSON.stringify(result.ratioVipdToKeepalivedTuned));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
