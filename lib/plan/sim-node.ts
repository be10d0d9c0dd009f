// Test/bench harness: whole vipd nodes minus the kernel on the deterministic simulator. Each node is a
// memberlist (lib/gossip/sim-cluster.ts) plus the real planner and metadata publisher, stepped like the
// daemon steps (on every membership event and every second), over a fake link layer: the addresses a plan
// wants are "added" at once, and every gratuitous announcement lands in one shared wire log. Deterministic
// for a seed; no root, no sockets, no real time.
import type { ActiveConfig } from "../daemon/config-state";
import { earliest, HELD_LIST_INTERVAL_MS, MetadataPublisher } from "../daemon/metadata-publisher";
import type { TimerHandle } from "../gossip/clock";
import type { LinkProfile } from "../gossip/sim-network";
import { SimCluster, type SimNode } from "../gossip/sim-cluster";
import type { InterfaceChoice } from "../net/interface-choice";
import type { LocalInputs } from "./eligibility";
import { answerHeldClaim } from "./held-claims";
import { newPlannerMemory, plan } from "./planner";
import { peersKnown } from "./readiness";
import type { ForeignConflict, MemberEvent, NodePolicy, Plan, PlannerMemory } from "./types";

export interface WireFrame {
  readonly at: number;
  readonly node: string;
  readonly ip: string;
  /** "takeover" for the burst that follows an added address, else the announcement's cause. */
  readonly cause: string;
}

export interface VipSimOptions {
  readonly seed: number;
  readonly active: ActiveConfig;
  readonly failback?: boolean;
  readonly quorum?: NodePolicy["quorum"];
  /** How long a node waits for peers before serving alone (the daemon's default is 3 s). */
  readonly joinWaitMs?: number;
  readonly link?: LinkProfile;
}

const TICK_MS = 1000;
const ON_ETH0: InterfaceChoice = { eligible: true, interfaces: ["eth0"] };
const NO_CONFLICTS: ReadonlyMap<string, ForeignConflict> = new Map();

/** One simulated vipd: gossip, planner memory, the addresses it holds, its link and health. */
export class VipSimNode {
  readonly memory: PlannerMemory = newPlannerMemory();
  held: ReadonlyMap<string, string> = new Map();
  ready = false;
  linkUp = true;
  /** ip -> why a health check fails here. */
  readonly unhealthy = new Map<string, string>();
  lastPlan: Plan | undefined;
  private events: MemberEvent[] = [];
  private stepTimer: TimerHandle | undefined;
  /** A pass the last plan asked for (Plan.nextPassAt). */
  private passTimer: TimerHandle | undefined;
  private tick: TimerHandle | undefined;
  private stopped = false;
  private readonly publisher: MetadataPublisher;
  private readonly policy: NodePolicy;
  readonly local: LocalInputs;

  constructor(
    readonly sim: VipSim,
    readonly gossip: SimNode,
  ) {
    const name = gossip.name;
    this.policy = {
      name,
      labels: { "kubernetes.io/hostname": name },
      failback: sim.opts.failback ?? true,
      quorum: sim.opts.quorum ?? { mode: "none", expect: 1 },
      probeBeforeTakeover: false,
    };
    this.local = {
      links: { choice: () => (this.linkUp ? ON_ETH0 : { eligible: false, reason: "eth0 is down" }) },
      health: { unhealthyReason: (ip) => this.unhealthy.get(ip), checked: (ip) => this.unhealthy.has(ip) },
      conflicts: { foreign: NO_CONFLICTS, isProbing: () => false, probedClearAt: () => undefined },
    };
    this.publisher = new MetadataPublisher((meta) => gossip.ml.setMetadata(meta), {
      heldListIntervalMs: HELD_LIST_INTERVAL_MS,
    });
    for (const kind of ["join", "alive", "suspect", "dead", "leave", "metadata"] as const) {
      gossip.ml.on(kind, (m) => {
        if (this.stopped || m.name === name) return;
        this.events.push({ kind, member: m.name, at: gossip.clock.now() });
        if (!this.ready && peersKnown(gossip.ml.members(), name)) this.ready = true;
        this.stepSoon();
      });
    }
    gossip.clock.setTimer(sim.opts.joinWaitMs ?? 3000, () => {
      this.ready = true;
      this.stepSoon();
    });
    const everySecond = (): void => {
      this.step();
      this.tick = gossip.clock.setTimer(TICK_MS, everySecond);
    };
    this.tick = gossip.clock.setTimer(TICK_MS, everySecond);
    this.stepSoon();
  }

  get name(): string {
    return this.gossip.name;
  }

  get alive(): boolean {
    return !this.stopped && !this.gossip.crashed;
  }

  /** Like the daemon's setImmediate: many events in one turn make one step. */
  stepSoon(): void {
    if (this.stepTimer || !this.alive) return;
    this.stepTimer = this.gossip.clock.setTimer(0, () => {
      this.stepTimer = undefined;
      this.step();
    });
  }

  step(): void {
    if (!this.alive) return;
    const now = this.gossip.clock.now();
    const events = this.events;
    this.events = [];
    const decided = plan(
      {
        now,
        wallTime: now,
        node: this.policy,
        config: this.sim.opts.active,
        members: this.gossip.ml.members(),
        memberEvents: events,
        ...this.local,
        held: this.held,
        // The fake applier adds at once, and the burst goes out with the add.
        placed: this.held,
        ready: this.ready,
      },
      this.memory,
    );
    this.lastPlan = decided;
    this.publisher.update(
      {
        labels: this.policy.labels,
        manifestDigest: this.sim.opts.active.load.digest,
        groups: this.sim.opts.active.groups,
        local: this.local,
        allocation: { digest: "", entries: [] },
        owned: decided.owned,
        released: decided.released,
        macs: [],
        withheld: decided.withheld,
      },
      now,
    );
    const nextPassAt = earliest(decided.nextPassAt, this.publisher.dueAt);
    if (nextPassAt !== undefined) {
      this.gossip.clock.clearTimer(this.passTimer);
      this.passTimer = this.gossip.clock.setTimer(Math.max(0, nextPassAt - now), () => this.stepSoon());
    }
    for (const a of decided.announcements) for (const ip of a.ips) this.sim.send(this.name, ip, a.cause);
    // The fake address applier: what the plan wants is there at once; each new address gets its burst.
    const before = this.held;
    this.held = decided.addresses;
    for (const ip of decided.addresses.keys()) if (!before.has(ip)) this.sim.send(this.name, ip, "takeover");
  }

  /** Graceful stop, as the daemon does it: leave (peers take over), then drop the addresses. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.gossip.clock.clearTimer(this.tick);
    this.gossip.clock.clearTimer(this.stepTimer);
    this.gossip.clock.clearTimer(this.passTimer);
    await this.gossip.ml.leave();
    this.held = new Map();
    this.gossip.ml.stop();
  }

  crashed(): void {
    this.stopped = true;
    this.held = new Map();
  }
}

export class VipSim {
  readonly gossip: SimCluster;
  readonly nodes = new Map<string, VipSimNode>();
  readonly wire: WireFrame[] = [];

  constructor(readonly opts: VipSimOptions) {
    this.gossip = new SimCluster({
      seed: opts.seed,
      ...(opts.link ? { link: opts.link } : {}),
    });
  }

  /** n nodes "node-0".."node-(n−1)", each joining node-0, 5 ms apart. */
  static build(n: number, opts: VipSimOptions): VipSim {
    const sim = new VipSim(opts);
    for (let i = 0; i < n; i++) {
      sim.addNode(`node-${i}`);
      if (i > 0) sim.gossip.sched.advance(5);
    }
    return sim;
  }

  addNode(name: string): VipSimNode {
    const first = this.gossip.nodes.find((n) => !n.crashed && n.name !== name);
    const gossip = this.gossip.addNode(name);
    const node = new VipSimNode(this, gossip);
    this.nodes.set(name, node);
    if (first) gossip.ml.join([first.addr]);
    return node;
  }

  node(name: string): VipSimNode {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no node ${name}`);
    return node;
  }

  now(): number {
    return this.gossip.sched.now();
  }

  /** A gratuitous announcement on the shared segment; every other node holding `ip` sees it. */
  send(node: string, ip: string, cause: string): void {
    this.wire.push({ at: this.now(), node, ip, cause });
    for (const other of this.nodes.values()) {
      if (other.name === node || !other.alive || !other.held.has(ip)) continue;
      const answer = answerHeldClaim(
        { ip, mac: node, origin: { kind: "member", member: node } },
        {
          held: other.held,
          ready: other.ready,
          memberState: (name) => other.gossip.ml.members().find((m) => m.name === name)?.state,
          knownForeignMac: undefined,
          electionIp: this.opts.active.groupByIp.get(ip)?.electionIp,
        },
        other.memory,
      );
      if (answer.kind === "handedOver") other.stepSoon();
      else if (answer.kind === "reannounce") this.send(other.name, ip, answer.announcement.cause);
    }
  }

  crash(name: string): void {
    this.node(name).crashed();
    this.gossip.crash(name);
  }

  stop(name: string): Promise<void> {
    return this.node(name).stop();
  }

  partition(a: readonly string[], b: readonly string[]): void {
    const addr = (names: readonly string[]) => names.map((n) => this.gossip.node(n).addr);
    this.gossip.net.partition(addr(a), addr(b));
  }

  heal(): void {
    this.gossip.net.healAll();
  }

  /** Running nodes that hold `ip` now. */
  holders(ip: string): string[] {
    return [...this.nodes.values()].filter((n) => n.alive && n.held.has(ip)).map((n) => n.name);
  }

  /** The node whose frame for `ip` was on the wire last (what clients' caches end up with). */
  lastAnnouncer(ip: string): string | undefined {
    for (let i = this.wire.length - 1; i >= 0; i--) if (this.wire[i]?.ip === ip) return this.wire[i]?.node;
    return undefined;
  }

  advance(ms: number): void {
    this.gossip.sched.advance(ms);
  }

  /** Runs until `done()` holds (checked every `stepMs`), at most `maxMs`; returns the time or undefined. */
  runUntil(done: () => boolean, maxMs: number, stepMs = 10): number | undefined {
    return this.gossip.sched.runUntilTrue(done, maxMs, stepMs);
  }
}
