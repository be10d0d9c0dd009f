// Steady CPU of the gossip layer alone, per thread, against Node's own floor for the same packet rate.
// Three node processes on 127.0.0.1, no lab, no VIPs:
//   vipd         each runs a ThreadedMemberlist (encrypted, lan profile) as the daemon does;
//   floor        each runs a bare worker thread that sends a heartbeat-sized datagram to 2 peers every
//                25 ms and reads theirs (no crypto, no protocol): what Node costs for that rate at all;
//   floor-crypto the floor plus one AES-256-GCM seal per send and one open per receive (Keyring).
// Per node it samples /proc/PID/task/*/stat over the window and splits CPU into the gossip thread (the one
// at SCHED_RR, or the worker's tid for the floors), the main thread, and the rest (V8's GC helpers, libuv).
// Run: node dist/bench/gossip-cpu.js [mode...] (default: all three). BENCH_WINDOW_S sets the window (20).
// NODE_FLAGS (space-separated) passes flags to the node processes (e.g. --max-semi-space-size=1).
import { fork, type ChildProcess } from "node:child_process";
import dgram from "node:dgram";
import { readdirSync } from "node:fs";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { RealClock } from "../lib/gossip/clock";
import { gossipProfile } from "../lib/gossip/config";
import { generateKey, Keyring } from "../lib/gossip/keyring";
import { Memberlist } from "../lib/gossip/memberlist";
import { raiseThisThreadPriority } from "../lib/gossip/priority";
import { EMPTY_METADATA } from "../lib/gossip/metadata";
import { ThreadedMemberlist } from "../lib/gossip/threaded";
import { UdpTransport } from "../lib/gossip/udp-transport";
import { procSample, threadSamples, type ThreadSample } from "./scale-common";

/** inline: the Memberlist on the node's main thread (for --cpu-prof, which writes its profile at exit). */
type Mode = "vipd" | "floor" | "floor-crypto" | "inline";
const MODES: readonly Mode[] = ["vipd", "floor", "floor-crypto"];
const NODES = 3;
const BASE_PORT = 47_900;
const HEARTBEAT_MS = 25;
const HEARTBEAT_BYTES = 56;
const WARMUP_MS = 4000;

interface FloorData {
  readonly port: number;
  readonly peers: readonly number[];
  readonly key: string | undefined;
}

/** The floor's worker: 2 sends per tick, every datagram read; optionally sealed and opened. */
function floorWorker(data: FloorData): void {
  raiseThisThreadPriority();
  const keyring = data.key === undefined ? undefined : Keyring.fromBase64(data.key);
  const label = Buffer.from("vipd");
  const plain = Buffer.alloc(HEARTBEAT_BYTES - (keyring ? 29 : 0), 7);
  const socket = dgram.createSocket("udp4");
  let received = 0;
  socket.on("message", (msg) => {
    if (keyring && keyring.open(msg, label) === undefined) throw new Error("floor: open failed");
    received++;
  });
  socket.bind(data.port, "127.0.0.1", () => {
    parentPort?.postMessage({ tid: gettidViaProc() });
    setInterval(() => {
      for (const peer of data.peers)
        socket.send(keyring ? keyring.seal(plain, label) : plain, peer, "127.0.0.1");
    }, HEARTBEAT_MS);
    setInterval(() => parentPort?.postMessage({ received }), 1000).unref();
  });
}

/** This thread's tid: the newest task of the process when the worker starts (good enough for a bench). */
function gettidViaProc(): number {
  return Math.max(...readdirSync("/proc/self/task").map(Number));
}

async function nodeProcess(mode: Mode, index: number, key: string): Promise<void> {
  const ports = Array.from({ length: NODES }, (_, i) => BASE_PORT + i);
  let gossipTid: number | undefined;
  if (mode === "vipd") {
    const ml = await ThreadedMemberlist.start({
      name: `n${index}`,
      bindHost: "127.0.0.1",
      bindPort: ports[index] as number,
      advertise: undefined,
      profile: "lan",
      clusterLabel: "vipd",
      keys: [key],
      metadata: EMPTY_METADATA,
    });
    ml.start();
    ml.join(ports.filter((_, i) => i !== index).map((p) => `127.0.0.1:${p}`));
  } else if (mode === "inline") {
    const udp = await UdpTransport.listen({ bindHost: "127.0.0.1", port: ports[index] as number });
    const ml = new Memberlist({
      name: `n${index}`,
      advertiseAddr: udp.localAddress,
      config: gossipProfile("lan"),
      transport: udp,
      clock: new RealClock(),
      keyring: Keyring.fromBase64(key),
      clusterLabel: "vipd",
    });
    ml.start();
    ml.join(ports.filter((_, i) => i !== index).map((p) => `127.0.0.1:${p}`));
    gossipTid = process.pid;
  } else {
    const worker = new Worker(__filename, {
      workerData: {
        port: ports[index],
        peers: ports.filter((_, i) => i !== index).slice(0, 2),
        key: mode === "floor-crypto" ? key : undefined,
      } satisfies FloorData,
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
    worker.on("message", (m: { tid?: number }) => {
      if (m.tid !== undefined) gossipTid = m.tid;
    });
  }
  process.on("message", () => process.send?.({ gossipTid }));
  process.on("SIGTERM", () => process.exit(0));
}

async function measure(mode: Mode, windowS: number): Promise<Record<string, unknown>> {
  const key = generateKey();
  const flags = (process.env.NODE_FLAGS ?? "").split(" ").filter((x) => x !== "");
  const children: ChildProcess[] = [];
  for (let i = 0; i < NODES; i++)
    children.push(fork(__filename, ["node", mode, String(i), key], { execArgv: flags, stdio: "inherit" }));
  try {
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    const gossipTids = await Promise.all(
      children.map(
        (c) =>
          new Promise<number | undefined>((resolve) => {
            c.once("message", (m: { gossipTid?: number }) => resolve(m.gossipTid));
            c.send("tid?");
          }),
      ),
    );
    const before = children.map((c) => threadSamples(c.pid as number));
    await new Promise((r) => setTimeout(r, windowS * 1000));
    const after = children.map((c) => threadSamples(c.pid as number));
    const hz = 100;
    const pct = (ticks: number): number => Math.round((ticks / hz / windowS) * 1000) / 10;
    const nodes = children.map((c, i) => {
      let gossip = 0;
      let gossipSystem = 0;
      let gossipWakeups = 0;
      let main = 0;
      let other = 0;
      for (const [tid, s] of after[i] as Map<number, ThreadSample>) {
        const was = (before[i] as Map<number, ThreadSample>).get(tid);
        const d = s.ticks - (was?.ticks ?? 0);
        if (tid === gossipTids[i] || (s.realTime && tid !== c.pid)) {
          gossip += d;
          gossipSystem += s.systemTicks - (was?.systemTicks ?? 0);
          gossipWakeups += s.wakeups - (was?.wakeups ?? 0);
        } else if (tid === c.pid) main += d;
        else other += d;
      }
      return {
        totalPercent: pct(gossip + main + other),
        gossipThread: pct(gossip),
        gossipThreadSystem: pct(gossipSystem),
        gossipWakeupsPerS: Math.round(gossipWakeups / windowS),
        mainThread: pct(main),
        otherThreads: pct(other),
        rssMb: procSample(c.pid as number).rssMb,
      };
    });
    return { mode, windowS, flags: flags.join(" "), nodes };
  } finally {
    for (const c of children) c.kill(mode === "inline" ? "SIGTERM" : "SIGKILL");
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function main(): Promise<void> {
  const [role, mode, index, key] = process.argv.slice(2);
  if (role === "node") return nodeProcess(mode as Mode, Number(index), key as string);
  const modes = process.argv
    .slice(2)
    .filter((m): m is Mode => (MODES as readonly string[]).includes(m) || m === "inline");
  const windowS = Number(process.env.BENCH_WINDOW_S ?? 20);
  for (const m of modes.length > 0 ? modes : MODES) console.log(JSON.stringify(await measure(m, windowS)));
}

if (isMainThread)
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
else floorWorker(workerData as FloorData);
