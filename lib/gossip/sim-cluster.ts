// Test/bench harness: N memberlists on one simulated network and virtual clock, with helpers to crash,
// stall (SIGSTOP-like) and query nodes. Deterministic for a given seed.
import { createHash } from "node:crypto";
import { LAN, type GossipConfig } from "./config";
import { Keyring } from "./keyring";
import { Memberlist, type MemberlistEvents } from "./memberlist";
import type { MemberMetadata } from "./metadata";
import type { OwnRanges } from "./version";
import { SimNetwork, type LinkProfile } from "./sim-network";
import { NodeClock, VirtualScheduler } from "./virtual-clock";

export interface SimNode {
  name: string;
  addr: string;
  clock: NodeClock;
  ml: Memberlist;
  crashed: boolean;
}

export interface SimClusterOptions {
  seed: number;
  config?: GossipConfig;
  link?: LinkProfile;
  insecure?: boolean;
  clusterLabel?: string;
}

export interface NodeOptions {
  keyring?: Keyring;
  clusterLabel?: string;
  insecure?: boolean;
  metadata?: MemberMetadata;
  config?: GossipConfig;
  /** Release and version ranges, to play another release than this build. */
  build?: string;
  versionRanges?: OwnRanges;
}

/** A keyring deterministic in the seed (tests must replay exactly). */
export function testKeyring(seed: number, tag = "k"): Keyring {
  return new Keyring([createHash("sha256").update(`${tag}:${seed}`).digest()]);
}

export function testKey(seed: number, tag: string): string {
  return createHash("sha256").update(`${tag}:${seed}`).digest("base64");
}

export class SimCluster {
  readonly sched = new VirtualScheduler();
  readonly net: SimNetwork;
  readonly nodes: SimNode[] = [];
  private readonly byName = new Map<string, SimNode>();
  private nodeSeq = 0;

  constructor(readonly opts: SimClusterOptions) {
    this.net = new SimNetwork(this.sched, opts.seed, opts.link ?? { latencyMs: 0.5, jitterMs: 0.3, loss: 0 });
  }

  static addrOf(i: number): string {
    return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:7946`;
  }

  /** Adds (and starts) a node; a crashed node's name may be reused, like a process restarted after a crash. */
  addNode(name: string, options: NodeOptions = {}): SimNode {
    if (this.byName.get(name)?.crashed === false) throw new Error(`node ${name} is running`);
    const i = ++this.nodeSeq;
    const addr = SimCluster.addrOf(i);
    const clock = new NodeClock(this.sched);
    const transport = this.net.attach(addr, clock);
    const insecure = options.insecure ?? this.opts.insecure ?? false;
    const ml = new Memberlist({
      name,
      advertiseAddr: addr,
      config: options.config ?? this.opts.config ?? LAN,
      transport,
      clock,
      seed: (this.opts.seed * 7919 + i * 104729) >>> 0,
      ...(insecure ? { insecure: true } : { keyring: options.keyring ?? testKeyring(this.opts.seed) }),
      clusterLabel: options.clusterLabel ?? this.opts.clusterLabel ?? "vipd",
      ...(options.metadata ? { metadata: options.metadata } : {}),
      ...(options.build !== undefined ? { build: options.build } : {}),
      ...(options.versionRanges ? { versionRanges: options.versionRanges } : {}),
      epoch: 1_700_000_000_000 + i * 1000 + Math.floor(this.sched.now()),
    });
    const node: SimNode = { name, addr, clock, ml, crashed: false };
    this.nodes.push(node);
    this.byName.set(name, node);
    ml.start();
    return node;
  }

  /** n nodes "node-0".."node-(n−1)"; each joins node-0, `staggerMs` apart. */
  static build(n: number, opts: SimClusterOptions, staggerMs = 5): SimCluster {
    const c = new SimCluster(opts);
    const first = c.addNode("node-0");
    for (let i = 1; i < n; i++) {
      const node = c.addNode(`node-${i}`);
      node.ml.join([first.addr]);
      if (staggerMs > 0) c.sched.advance(staggerMs);
    }
    return c;
  }

  node(name: string): SimNode {
    const n = this.byName.get(name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  running(): SimNode[] {
    return this.nodes.filter((n) => !n.crashed);
  }

  /** kill -9: no goodbye, no more timers or packets. */
  crash(name: string): void {
    const n = this.node(name);
    n.crashed = true;
    n.ml.stop();
    n.clock.stop();
    this.net.setDown(n.addr, true);
  }

  pause(name: string): void {
    this.node(name).clock.pause();
  }

  /** SIGCONT: overdue timers fire first (as in Node's event loop), then the queued packets. */
  resume(name: string): void {
    const n = this.node(name);
    n.clock.resume();
    this.net.flushHeld(n.addr);
  }

  /** State of `subject` in `observer`'s view. */
  stateOf(observer: string, subject: string): string | undefined {
    return this.node(observer).ml.member(subject)?.state;
  }

  /** Every running node sees every running node alive (and nothing else alive). */
  converged(): boolean {
    const live = this.running();
    const names = new Set(live.map((n) => n.name));
    for (const o of live) {
      let alive = 0;
      for (const m of o.ml.members()) {
        if (m.state === "alive" || m.state === "suspect") {
          if (m.state !== "alive" || !names.has(m.name)) return false;
          alive++;
        }
      }
      if (alive !== names.size) return false;
    }
    return true;
  }

  /** Every running node except `subject` holds it in `state`. */
  allSee(subject: string, state: string): boolean {
    return this.running().every((o) => o.name === subject || this.stateOf(o.name, subject) === state);
  }

  on<E extends keyof MemberlistEvents>(
    event: E,
    fn: (observer: string, ...args: MemberlistEvents[E]) => void,
  ): void {
    for (const n of this.nodes) {
      const listener = (...args: MemberlistEvents[E]) => fn(n.name, ...args);
      (n.ml.on as (e: E, l: (...a: MemberlistEvents[E]) => void) => void)(event, listener);
    }
  }
}

/**
 * Crash one member of a freshly converged cluster at a seed-dependent phase; returns ms until every other
 * member holds it dead (undefined if never within 10 s). Used by the detection tests and the bench.
 */
export function detectionRun(n: number, seed: number, insecure = false): number | undefined {
  const c = SimCluster.build(
    n,
    { seed, insecure, link: { latencyMs: 0.5, jitterMs: 0.3, loss: 0 } },
    n > 50 ? 2 : 5,
  );
  if (c.sched.runUntilTrue(() => c.converged(), 10_000, 10) === undefined) return undefined;
  c.sched.advance(300 + ((seed * 7919) % 97));
  const victim = `node-${1 + (seed % (n - 1))}`;
  const t0 = c.sched.now();
  c.crash(victim);
  const done = c.sched.runUntilTrue(() => c.allSee(victim, "dead"), 10_000, 0.5);
  return done === undefined ? undefined : done - t0;
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

/**
 * News spreading through a freshly converged cluster, at a seed-dependent phase; returns ms until every other
 * member has it (undefined if not within 10 s). "metadata": one member changes its metadata (what vipd does
 * when a VIP becomes ineligible there); "join": a new member joins through node-0 and must be known alive.
 */
export function disseminationRun(n: number, seed: number, kind: "metadata" | "join"): number | undefined {
  const c = SimCluster.build(n, { seed, insecure: n > 50 }, n > 50 ? 2 : 5);
  if (c.sched.runUntilTrue(() => c.converged(), 10_000, 10) === undefined) return undefined;
  c.sched.advance(300 + ((seed * 7919) % 97));
  const t0 = c.sched.now();
  let done: number | undefined;
  if (kind === "metadata") {
    const source = c.node(`node-${1 + (seed % (n - 1))}`);
    const tag = `seed-${seed}`;
    source.ml.setMetadata({
      labels: { news: tag },
      manifestDigest: "",
      eligibility: { eligible: [], ineligible: [] },
    });
    done = c.sched.runUntilTrue(
      () => c.running().every((o) => o === source || o.ml.member(source.name)?.metadata?.labels.news === tag),
      10_000,
      0.5,
    );
  } else {
    const joiner = c.addNode("newcomer");
    joiner.ml.join([c.node("node-0").addr]);
    done = c.sched.runUntilTrue(() => c.allSee("newcomer", "alive"), 10_000, 0.5);
  }
  return done === undefined ? undefined : done - t0;
}
