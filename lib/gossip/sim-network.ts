// Deterministic in-memory network for the simulator: per-link latency + jitter, loss, one-way (asymmetric)
// blocks, paused nodes whose packets queue like a stopped process's socket buffer, crashed nodes that
// drop everything. All randomness comes from one seeded Rng.
import { Rng } from "./rng";
import type { PacketHandler, Transport } from "./transport";
import type { NodeClock, VirtualScheduler } from "./virtual-clock";

export interface LinkProfile {
  latencyMs: number;
  jitterMs: number;
  loss: number;
}

export interface SimNetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  bytes: number;
}

interface SimEndpoint {
  address: string;
  handler: PacketHandler;
  clock: NodeClock | undefined;
  down: boolean;
  held: Array<{ from: string; packet: Buffer }>;
}

export class SimNetwork {
  private readonly rng: Rng;
  private readonly endpoints = new Map<string, SimEndpoint>();
  private readonly blocked = new Set<string>();
  private readonly linkOverrides = new Map<string, LinkProfile>();
  /** A stopped process's socket buffer: this many packets, then drops (like a full rcvbuf). */
  heldPacketLimit = 4096;
  readonly stats: SimNetworkStats = { sent: 0, delivered: 0, dropped: 0, bytes: 0 };

  constructor(
    private readonly sched: VirtualScheduler,
    seed: number,
    public defaults: LinkProfile = { latencyMs: 0.5, jitterMs: 0.3, loss: 0 },
  ) {
    this.rng = new Rng(seed ^ 0x5eed);
  }

  /** Attaches a node; `clock` lets paused nodes hold packets until resume. */
  attach(address: string, clock?: NodeClock): Transport {
    const ep: SimEndpoint = { address, handler: () => {}, clock, down: false, held: [] };
    this.endpoints.set(address, ep);
    return {
      localAddress: address,
      send: (to, packet) => this.send(address, to, packet),
      onPacket: (h) => {
        ep.handler = h;
      },
      close: async () => {
        ep.down = true;
      },
    };
  }

  /** Crash: the node's packets vanish both ways. */
  setDown(address: string, down: boolean): void {
    const ep = this.endpoints.get(address);
    if (ep) ep.down = down;
  }

  /** Resume a paused node's endpoint: deliver what queued during the pause, in arrival order. */
  flushHeld(address: string): void {
    const ep = this.endpoints.get(address);
    if (!ep) return;
    const held = ep.held;
    ep.held = [];
    for (const p of held) {
      if (ep.down) break;
      this.stats.delivered++;
      ep.handler(p.packet, p.from);
    }
  }

  /** One-way block from → to (asymmetric partition). */
  block(from: string, to: string): void {
    this.blocked.add(`${from}>${to}`);
  }

  unblock(from: string, to: string): void {
    this.blocked.delete(`${from}>${to}`);
  }

  /** Two-way partition between the groups. */
  partition(a: readonly string[], b: readonly string[]): void {
    for (const x of a)
      for (const y of b) {
        this.block(x, y);
        this.block(y, x);
      }
  }

  healAll(): void {
    this.blocked.clear();
  }

  setLink(from: string, to: string, profile: LinkProfile): void {
    this.linkOverrides.set(`${from}>${to}`, profile);
  }

  private send(from: string, to: string, packet: Buffer): void {
    this.stats.sent++;
    this.stats.bytes += packet.length;
    const src = this.endpoints.get(from);
    if (src?.down) return this.drop();
    const key = `${from}>${to}`;
    if (this.blocked.has(key)) return this.drop();
    const link = this.linkOverrides.get(key) ?? this.defaults;
    if (link.loss > 0 && this.rng.next() < link.loss) return this.drop();
    const delay = link.latencyMs + (link.jitterMs > 0 ? (this.rng.next() * 2 - 1) * link.jitterMs : 0);
    // The packet is copied so a sender reusing its buffer cannot change it in flight.
    const copy = Buffer.from(packet);
    this.sched.at(this.sched.now() + Math.max(0.01, delay), () => {
      const ep = this.endpoints.get(to);
      if (!ep || ep.down) return this.drop();
      if (ep.clock?.isPaused()) {
        if (ep.held.length >= this.heldPacketLimit) return this.drop();
        ep.held.push({ from, packet: copy });
        return;
      }
      this.stats.delivered++;
      ep.handler(copy, from);
    });
  }

  private drop(): void {
    this.stats.dropped++;
  }
}
