// False failovers under stress, vipd against keepalived (tuned: VRRPv3 advert_int 0.1; default: VRRPv2
// advert_int 1), every system in its own lab but all under the same condition at the same time, for one
// window (10 minutes by default) per condition:
//  - loss: 10% of the packets each node receives dropped at random (nftables `numgen random mod 10 0 drop`
//    in every node namespace; this kernel has no sch_netem), 2- and 3-node clusters;
//  - sigstop: the owner's daemon (keepalived: its processes) paused 100 ms every second, 2- and 3-node;
//  - saturated: the host saturated by nproc+1 busy processes, 2- and 3-node clusters, and in the same
//    window the failover bench (crash and link down, vipd and tuned keepalived) for the p99 under load.
// A false failover is a node other than the owner taking the VIP while the owner is alive: vipd's
// `addressAdded` on another node, keepalived's "Entering MASTER STATE" on a backup. vipd's false deaths
// (`memberDead`) and suspicions are counted too.
// Run: npm run bench:flap (both phases, ~25 min, root), or node dist/bench/flap.js idle|saturated.
// Writes bench/results/flap.json (a phase run keeps the other phase's last results). Not part of
// `npm run bench`, which must stay under 15 minutes.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { VipdCluster } from "../test/lab/cluster";
import { Lab } from "../test/lab/lab";
import { sleep } from "../test/lab/lab-helpers";
import { ensureTools } from "../test/systemd/helpers";
import { ensureKeepalived, KeepalivedNodes, vrrpConfig, type VrrpTimers } from "./keepalived";
import { machine } from "./machine";

const WINDOW_S = Number(process.env.FLAP_WINDOW_S ?? 600);
const PAUSE_MS = 100;
const PAUSE_PERIOD_MS = 1000;
const RESULTS = join(__dirname, "..", "..", "bench", "results");

type Stress = "loss" | "sigstop" | "saturated";

interface Condition {
  readonly name: string;
  readonly stress: Stress;
  readonly nodes: 2 | 3;
}

const PHASES: Record<"idle" | "saturated", readonly Condition[]> = {
  idle: [
    { name: "loss-2", stress: "loss", nodes: 2 },
    { name: "loss-3", stress: "loss", nodes: 3 },
    { name: "sigstop-2", stress: "sigstop", nodes: 2 },
    { name: "sigstop-3", stress: "sigstop", nodes: 3 },
  ],
  saturated: [
    { name: "saturated-2", stress: "saturated", nodes: 2 },
    { name: "saturated-3", stress: "saturated", nodes: 3 },
  ],
};

const DESCRIPTION: Record<Stress, string> = {
  loss: "10% of received packets dropped at random on every node (nftables numgen), idle host",
  sigstop: `owner's daemon paused (SIGSTOP/SIGCONT) ${PAUSE_MS} ms every ${PAUSE_PERIOD_MS / 1000} s`,
  saturated: "host saturated by nproc+1 busy processes",
};

const VIP = "198.51.100.50";
const MANIFEST = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: flap}
spec: {addresses: [${VIP}/32]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: flap}
spec: {ipAddressPools: [flap]}
---
apiVersion: v1
kind: Service
metadata: {name: flap}
spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}]}
`;

interface SystemCount {
  /** A node other than the owner took the VIP. */
  falseFailovers: number;
  /** vipd only: members declared dead (summed over observers). */
  falseDeaths?: number;
  /** vipd only: suspicions raised (refuted, not deaths). */
  suspicions?: number;
}

/** One system in its own lab under one condition. */
interface Running {
  readonly system: string;
  readonly lab: Lab;
  /** pids to pause for the sigstop condition (the owner's daemon). */
  ownerPids(): Promise<number[]>;
  begin(): void;
  count(): SystemCount;
  stop(): Promise<void>;
}

async function addLoss(lab: Lab): Promise<void> {
  for (const node of lab.nodes) {
    execFileSync("ip", ["netns", "exec", node.ns, "nft", "-f", "-"], {
      input: [
        "table inet flap {",
        "  chain in {",
        "    type filter hook input priority 0; policy accept;",
        '    iifname "eth0" counter',
        '    iifname "eth0" numgen random mod 10 0 counter drop',
        "  }",
        "}",
        "",
      ].join("\n"),
    });
  }
}

/** Received and dropped packet counters of the loss rules, summed over the lab's nodes. */
function lossCounters(lab: Lab): { received: number; dropped: number } {
  let received = 0;
  let dropped = 0;
  for (const node of lab.nodes) {
    const text = execFileSync(
      "ip",
      ["netns", "exec", node.ns, "nft", "list", "chain", "inet", "flap", "in"],
      {
        encoding: "utf8",
      },
    );
    const counters = [...text.matchAll(/counter packets (\d+)/g)].map((m) => Number(m[1]));
    received += counters[0] ?? 0;
    dropped += counters[1] ?? 0;
  }
  return { received, dropped };
}

async function startVipd(condition: Condition): Promise<Running> {
  const lab = await Lab.create({ nodes: condition.nodes });
  if (condition.stress === "loss") await addLoss(lab);
  const cluster = await VipdCluster.start(lab, MANIFEST, { readyTimeoutMs: 60_000 });
  const owner = await cluster.singleHolder(VIP, 60_000);
  const ownerNode = cluster.nodes.find((n) => n.name === owner)!;
  const events = ["memberDead", "memberSuspect", "addressAdded"];
  let base = new Map<string, number>();
  const sum = (): Map<string, number> => {
    const out = new Map<string, number>();
    for (const node of cluster.nodes)
      for (const e of events) {
        const key = e === "addressAdded" ? `${e}:${node === ownerNode ? "owner" : "other"}` : e;
        out.set(key, (out.get(key) ?? 0) + (node.events.get(e) ?? 0));
      }
    return out;
  };
  return {
    system: "vipd",
    lab,
    ownerPids: async () => {
      const pid = await cluster.daemonPid(ownerNode);
      return pid ? [pid] : [];
    },
    begin: () => {
      base = sum();
    },
    count: () => {
      const now = sum();
      const diff = (k: string): number => (now.get(k) ?? 0) - (base.get(k) ?? 0);
      return {
        falseFailovers: diff("addressAdded:other"),
        falseDeaths: diff("memberDead"),
        suspicions: diff("memberSuspect"),
      };
    },
    stop: async () => {
      await cluster.stop();
      await lab.destroy();
    },
  };
}

async function startKeepalived(condition: Condition, system: string, timers: VrrpTimers): Promise<Running> {
  const lab = await Lab.create({ nodes: condition.nodes });
  if (condition.stress === "loss") await addLoss(lab);
  const instance = { name: "flap", vrid: 51, masterNode: 1, addresses: [`${VIP}/32`] };
  const nodes = new KeepalivedNodes(lab, `${system}-${condition.name}`, (n) =>
    vrrpConfig(n, timers, [instance]),
  );
  const numbers = lab.nodes.map((_, i) => i + 1);
  for (const n of numbers) nodes.launch(n);
  // Settled: node 1 (highest priority) holds the VIP alone.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const holders: number[] = [];
    for (const n of numbers) {
      const text = await lab.ip(lab.node(n).ns, "-j", "addr", "show", "dev", "eth0");
      if (text.includes(`"${VIP}"`)) holders.push(n);
    }
    if (holders.length === 1 && holders[0] === 1) break;
    if (Date.now() > deadline) throw new Error(`${system} ${condition.name}: VIP not settled on node1`);
    await sleep(200);
  }
  await sleep(2000);
  let base = 0;
  const backupsEntering = (): number =>
    numbers.filter((n) => n !== 1).reduce((s, n) => s + nodes.masterEntries(n), 0);
  return {
    system,
    lab,
    ownerPids: async () => nodes.pids(1),
    begin: () => {
      base = backupsEntering();
    },
    count: () => ({ falseFailovers: backupsEntering() - base }),
    stop: async () => {
      await nodes.stop();
      await lab.destroy();
    },
  };
}

/**
 * The pauser runs as its own process at SCHED_RR 50 (chrt), so a pause lasts what it says on a loaded host:
 * timed from this bench's own event loop, a "100 ms" pause lasted 150-300 ms at load 30 and punished every
 * system for the bench's scheduling delay. It measures each pause (SIGSTOP to SIGCONT sent) and reports them.
 */
const PAUSER_SCRIPT = `
const pids = process.argv.slice(1).map(Number);
const [pauseMs, periodMs] = [${PAUSE_MS}, ${PAUSE_PERIOD_MS}];
const wait = new Int32Array(new SharedArrayBuffer(4));
const sleepExact = (ms) => { const end = performance.now() + ms; let left; while ((left = end - performance.now()) > 0) Atomics.wait(wait, 0, 0, left); };
const pauses = [];
let running = true;
process.on("SIGTERM", () => { running = false; });
const loop = () => {
  if (!running) { process.stdout.write(JSON.stringify(pauses) + "\\n"); return; }
  const t0 = performance.now();
  for (const pid of pids) try { process.kill(pid, "SIGSTOP"); } catch {}
  sleepExact(pauseMs);
  for (const pid of pids) try { process.kill(pid, "SIGCONT"); } catch {}
  pauses.push(Math.round((performance.now() - t0) * 10) / 10);
  setTimeout(loop, periodMs - (performance.now() - t0));
};
loop();
`;

interface PauseReport {
  pauses: number;
  pauseMsP50: number;
  pauseMsMax: number;
}

async function startPauser(runs: readonly Running[]): Promise<{ stop(): Promise<PauseReport> }> {
  const pids = (await Promise.all(runs.map((r) => r.ownerPids()))).flat();
  const child = spawn("chrt", ["-r", "50", process.execPath, "-e", PAUSER_SCRIPT, ...pids.map(String)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
  return {
    stop: async () => {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
      // A pause may have been in progress: make sure nobody stays stopped.
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGCONT");
        } catch {
          // gone
        }
      }
      const pauses = (JSON.parse(out.trim() || "[]") as number[]).sort((a, b) => a - b);
      return {
        pauses: pauses.length,
        pauseMsP50: pauses[Math.floor(pauses.length / 2)] ?? 0,
        pauseMsMax: pauses[pauses.length - 1] ?? 0,
      };
    },
  };
}

function startBusy(): ChildProcess[] {
  return Array.from({ length: cpus().length + 1 }, () =>
    spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }),
  );
}

interface ConditionResult {
  description: string;
  nodes: number;
  windowS: number;
  systems: Record<string, SystemCount>;
  evidence: Record<string, number | string>;
}

async function runPhase(
  phase: "idle" | "saturated",
  only: Stress | undefined,
): Promise<Record<string, unknown>> {
  const conditions = PHASES[phase].filter((c) => only === undefined || c.stress === only);
  const runs = new Map<string, Running[]>();
  const started: Running[] = [];
  const busy = phase === "saturated" ? startBusy() : [];
  let failover: ChildProcess | undefined;
  const failoverOut = join(mkdtempSync(join(tmpdir(), "vipd-flap-")), "failover-saturated.json");
  try {
    if (busy.length > 0) await sleep(2000);
    for (const condition of conditions) {
      const list: Running[] = [];
      list.push(await startVipd(condition));
      started.push(list[list.length - 1]!);
      list.push(await startKeepalived(condition, "keepalived-tuned", { version: 3, advertInt: "0.1" }));
      started.push(list[list.length - 1]!);
      list.push(await startKeepalived(condition, "keepalived-default", { version: 2, advertInt: "1" }));
      started.push(list[list.length - 1]!);
      runs.set(condition.name, list);
      console.log(`${condition.name}: ${list.length} systems settled`);
    }
    const pausers: Array<{ name: string; pauser: { stop(): Promise<PauseReport> } }> = [];
    for (const c of conditions.filter((x) => x.stress === "sigstop"))
      pausers.push({ name: c.name, pauser: await startPauser(runs.get(c.name)!) });
    for (const list of runs.values()) for (const r of list) r.begin();
    if (phase === "saturated") {
      // The failover bench in the same window, for vipd's and tuned keepalived's p99 under the same load.
      failover = spawn(process.execPath, [join(__dirname, "failover.js")], {
        stdio: "inherit",
        env: {
          ...process.env,
          BENCH_SYSTEMS: "vipd,keepalived-tuned",
          BENCH_SCENARIOS: "crash,link",
          BENCH_OUT: failoverOut,
        },
      });
    }
    const windowStart = Date.now();
    const loads: number[] = [];
    while (Date.now() - windowStart < WINDOW_S * 1000) {
      await sleep(10_000);
      loads.push(loadavg()[0]);
      const line = [...runs.entries()]
        .map(
          ([name, list]) =>
            `${name}: ${list.map((r) => `${r.system}=${r.count().falseFailovers}`).join(" ")}`,
        )
        .join("; ");
      console.log(`${Math.round((Date.now() - windowStart) / 1000)} s: ${line}`);
    }
    const out: Record<string, ConditionResult> = {};
    for (const condition of conditions) {
      const list = runs.get(condition.name)!;
      const evidence: Record<string, number | string> = {};
      if (condition.stress === "loss") {
        let received = 0;
        let dropped = 0;
        for (const r of list) {
          const c = lossCounters(r.lab);
          received += c.received;
          dropped += c.dropped;
        }
        evidence.packetsReceived = received;
        evidence.packetsDropped = dropped;
        evidence.dropRatio = Math.round((dropped / Math.max(1, received)) * 1000) / 1000;
      }
      const pauser = pausers.find((p) => p.name === condition.name);
      if (pauser) Object.assign(evidence, await pauser.pauser.stop());
      if (condition.stress === "saturated") {
        evidence.busyProcesses = busy.length;
        evidence.meanLoadAvg1 =
          Math.round((loads.reduce((a, b) => a + b, 0) / Math.max(1, loads.length)) * 10) / 10;
      }
      out[condition.name] = {
        description: DESCRIPTION[condition.stress],
        nodes: condition.nodes,
        windowS: WINDOW_S,
        systems: Object.fromEntries(list.map((r) => [r.system, r.count()])),
        evidence,
      };
    }
    let failoverResult: unknown;
    if (failover) {
      if (failover.exitCode === null) {
        console.log("waiting for the saturated failover bench to finish");
        await new Promise((r) => failover!.once("exit", r));
      }
      failoverResult = existsSync(failoverOut) ? JSON.parse(readFileSync(failoverOut, "utf8")) : undefined;
    }
    return {
      at: new Date().toISOString(),
      conditions: out,
      ...(failoverResult ? { failover: failoverResult } : {}),
    };
  } finally {
    for (const p of busy) p.kill("SIGKILL");
    if (failover && failover.exitCode === null) failover.kill("SIGTERM");
    for (const r of started) await r.stop().catch((e: unknown) => console.error(e));
    rmSync(join(failoverOut, ".."), { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("the flap bench builds network labs and needs root");
  // A phase, both, or one stress of the idle phase ("loss", "sigstop") re-run into the last results.
  const which = process.argv[2] ?? "all";
  if (!["idle", "saturated", "all", "loss", "sigstop"].includes(which))
    throw new Error(`unknown phase ${which}`);
  const only = which === "loss" || which === "sigstop" ? (which as Stress) : undefined;
  const keepalived = ensureKeepalived();
  ensureTools({ nft: "nftables" });
  const file = join(RESULTS, "flap.json");
  const previous = existsSync(file)
    ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>)
    : {};
  const phases: ReadonlyArray<"idle" | "saturated"> =
    which === "all" ? ["idle", "saturated"] : only ? ["idle"] : [which as "idle" | "saturated"];
  const result: Record<string, unknown> = {
    ...previous,
    bench: "flap",
    command: "npm run bench:flap (node dist/bench/flap.js [idle|saturated|loss|sigstop])",
    machine: { ...machine(), keepalived },
  };
  for (const phase of phases) {
    const names = PHASES[phase].filter((c) => only === undefined || c.stress === only).map((c) => c.name);
    console.log(`== phase ${phase}: ${names.join(", ")}, ${WINDOW_S} s window`);
    const fresh = (await runPhase(phase, only)) as { at: string; conditions: Record<string, unknown> };
    const before = previous[phase] as { conditions?: Record<string, unknown> } | undefined;
    result[phase] = only
      ? { ...fresh, conditions: { ...(before?.conditions ?? {}), ...fresh.conditions } }
      : fresh;
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
  }
  console.log(JSON.stringify(result, null, 2));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
