// Gossip bench on the simulator (LAN link profile, encrypted unless noted): for N = 10, 50 and 250, crash
// detection (every member holds the crashed one dead), dissemination (a metadata change, and a new member,
// known to every member) and steady-state bytes per member per second; CPU time inside one member's handlers
// (receive + timers, crypto included); 10 real members over loopback UDP. Writes bench/results/gossip.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { RealClock, type Clock } from "../lib/gossip/clock";
import { generateKey, Keyring } from "../lib/gossip/keyring";
import { Memberlist } from "../lib/gossip/memberlist";
import { UdpTransport } from "../lib/gossip/udp-transport";
import { detectionRun, disseminationRun, percentile, SimCluster } from "../lib/gossip/sim-cluster";

interface Steady {
  members: number;
  encrypted: boolean;
  simulatedSeconds: number;
  perMember: {
    packetsOutPerSec: number;
    bytesOutPerSec: number;
    packetsInPerSec: number;
    bytesInPerSec: number;
  };
  oneMemberCpuMsPerSec: number;
  oneMemberCpuPercent: number;
}

function steady(n: number, seconds: number, insecure: boolean): Steady {
  const c = SimCluster.build(n, { seed: 4242 + n, insecure }, n > 50 ? 2 : 5);
  if (c.sched.runUntilTrue(() => c.converged(), 10_000, 10) === undefined)
    throw new Error(`N=${n} did not converge`);
  c.sched.advance(2000);
  // Time spent in node-0's callbacks: single-threaded, so wall time inside them is its CPU time.
  const probe = c.node("node-0");
  let cpuMs = 0;
  const ml = probe.ml as unknown as { receive: (p: Buffer, f: string) => void };
  const receive = ml.receive.bind(probe.ml);
  ml.receive = (p, f) => {
    const t = performance.now();
    receive(p, f);
    cpuMs += performance.now() - t;
  };
  const clock = probe.clock as Clock;
  const setTimer = clock.setTimer.bind(clock);
  clock.setTimer = (ms, fn) =>
    setTimer(ms, () => {
      const t = performance.now();
      fn();
      cpuMs += performance.now() - t;
    });
  const before = c.nodes.map((x) => x.ml.stats());
  c.sched.advance(seconds * 1000);
  const after = c.nodes.map((x) => x.ml.stats());
  const sum = (k: "packetsOut" | "bytesOut" | "packetsIn" | "bytesIn") =>
    after.reduce((s, a, i) => s + a[k] - (before[i] as (typeof before)[0])[k], 0) / n / seconds;
  if (!c.converged()) throw new Error("lost convergence during the steady-state run");
  return {
    members: n,
    encrypted: !insecure,
    simulatedSeconds: seconds,
    perMember: {
      packetsOutPerSec: +sum("packetsOut").toFixed(1),
      bytesOutPerSec: Math.round(sum("bytesOut")),
      packetsInPerSec: +sum("packetsIn").toFixed(1),
      bytesInPerSec: Math.round(sum("bytesIn")),
    },
    oneMemberCpuMsPerSec: +(cpuMs / seconds).toFixed(2),
    oneMemberCpuPercent: +((cpuMs / seconds / 1000) * 100).toFixed(2),
  };
}

function latencies(n: number, runs: number, encrypted: boolean, run: (seed: number) => number | undefined) {
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = run(50_000 + n * 1000 + r);
    if (t === undefined) throw new Error(`N=${n} run ${r} failed`);
    times.push(t);
  }
  times.sort((a, b) => a - b);
  return {
    members: n,
    runs,
    encrypted,
    p50Ms: +percentile(times, 0.5).toFixed(1),
    p99Ms: +percentile(times, 0.99).toFixed(1),
    maxMs: +(times.at(-1) as number).toFixed(1),
  };
}

function detection(n: number, runs: number, insecure: boolean) {
  return latencies(n, runs, !insecure, (seed) => detectionRun(n, seed, insecure));
}

/** Above 50 members the simulator runs without crypto to keep the bench short (as detection at 250). */
function dissemination(n: number, runs: number, kind: "metadata" | "join") {
  return { kind, ...latencies(n, runs, n <= 50, (seed) => disseminationRun(n, seed, kind)) };
}

/** N real memberlists over UDP on 127.0.0.1 in this process: average CPU per member (process.cpuUsage). */
async function realUdp(n: number, seconds: number) {
  const key = generateKey();
  const nodes: { ml: Memberlist; t: UdpTransport }[] = [];
  for (let i = 0; i < n; i++) {
    const t = await UdpTransport.listen({ bindHost: "127.0.0.1", port: 0 });
    const ml = new Memberlist({
      name: `b${i}`,
      advertiseAddr: t.localAddress,
      transport: t,
      clock: new RealClock(),
      seed: i + 1,
      keyring: Keyring.fromBase64(key),
    });
    ml.start();
    nodes.push({ ml, t });
  }
  for (const x of nodes.slice(1)) x.ml.join([(nodes[0] as (typeof nodes)[0]).t.localAddress]);
  await new Promise((r) => setTimeout(r, 2000));
  const converged = nodes.every((x) => x.ml.members().filter((m) => m.state === "alive").length === n);
  const cpu0 = process.cpuUsage();
  const out0 = nodes.reduce((s, x) => s + x.ml.stats().packetsOut, 0);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = process.cpuUsage(cpu0);
  const out = nodes.reduce((s, x) => s + x.ml.stats().packetsOut, 0) - out0;
  for (const x of nodes) {
    x.ml.stop();
    await x.t.close();
  }
  return {
    members: n,
    converged,
    seconds,
    packetsOutPerMemberPerSec: +(out / n / seconds).toFixed(1),
    cpuMsPerMemberPerSec: +((cpu.user + cpu.system) / 1000 / n / seconds).toFixed(2),
  };
}

/**
 * The latency runs on the simulator, in two parts of about equal cost. Their results depend only on seeds and
 * the virtual clock, so the parts run on two threads at once (one after another the bench took 5.5 of
 * `npm run bench`'s 15 minutes, most of it at 250 members); the CPU figures (steadyState, realUdpLoopback)
 * are measured alone, before and after. One run at 250 members costs 11-14 s here (50 members: ~1 s), so
 * they get 4 detection runs and 2 dissemination runs of each kind, split so the threads end together
 * (timed on this host: part "large" ~74 s, "rest" ~77 s, where 8 and 3 runs in the old split took 130 s).
 */
interface Latencies {
  detection: ReturnType<typeof detection>[];
  dissemination: ReturnType<typeof dissemination>[];
}
const LATENCY_PARTS = {
  large: (): Latencies => ({
    detection: [detection(250, 4, true)],
    dissemination: [dissemination(250, 2, "join")],
  }),
  rest: (): Latencies => ({
    detection: [detection(3, 40, false), detection(10, 40, false), detection(50, 20, false)],
    dissemination: [
      dissemination(10, 30, "metadata"),
      dissemination(50, 8, "metadata"),
      dissemination(250, 2, "metadata"),
      dissemination(10, 30, "join"),
      dissemination(50, 8, "join"),
    ],
  }),
};
type LatencyPart = keyof typeof LATENCY_PARTS;

function latencyPartOnThread(part: LatencyPart): Promise<Latencies> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(__filename, { workerData: part });
    worker.once("message", (m: Latencies) => resolve(m));
    worker.once("error", reject);
    worker.once("exit", (code) => {
      if (code !== 0) reject(new Error(`gossip bench: the ${part} thread exited with ${code}`));
    });
  });
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const steadyState = [steady(10, 20, false), steady(50, 8, false), steady(250, 4, false)];
  const [rest, large] = await Promise.all([latencyPartOnThread("rest"), latencyPartOnThread("large")]);
  const result = {
    what:
      "vipd gossip (SWIM+Lifeguard+heartbeat fast path), lan profile, simulated LAN 0.5±0.3 ms; " +
      "realUdpLoopback = 10 real members in one process on 127.0.0.1 (CPU includes syscalls and crypto)",
    steadyState,
    detection: [...rest.detection, ...large.detection],
    // In the order the report has always shown: per kind, by size.
    dissemination: [...rest.dissemination, ...large.dissemination].sort((a, b) =>
      a.kind === b.kind ? a.members - b.members : a.kind === "metadata" ? -1 : 1,
    ),
    realUdpLoopback: await realUdp(10, 5),
    node: process.version,
    wallSeconds: 0,
  };
  result.wallSeconds = +((performance.now() - t0) / 1000).toFixed(1);
  const dir = join(__dirname, "..", "..", "bench", "results");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "gossip.json"), JSON.stringify(result, null, 2) + "\n");
  console.log(JSON.stringify(result, null, 2));
}

if (isMainThread) void main();
else parentPort?.postMessage(LATENCY_PARTS[workerData as LatencyPart]());
