// Gratuitous ARP / unsolicited NA policy: a burst of rounds on takeover, an optional periodic refresh, and
// per-interface pacing so that thousands of VIPs moving at once do not overrun a switch (keepalived
// garp_interval exists for that reason, PR #108). Every frame handed to the kernel is counted by
// (ip, interface, kind) for the metrics. Sockets sit behind PacketTransport so this is testable with a
// fake clock.
import { RealClock, type Clock, type TimerHandle } from "../gossip/clock";
import { gratuitousArpFrames } from "./arp-frame";
import { writeIp } from "./wire";
import { unsolicitedNeighborAdvertisementFrame } from "./ndp-frame";

export interface AnnouncePolicy {
  /** Rounds sent on takeover, the first at once. Default 5 (one now + 4 more). */
  readonly rounds: number;
  /** Gap between rounds. Default 1000 ms; the burst must outlast Linux's 1 s ARP locktime. */
  readonly spacingMs: number;
  /** Re-announce every this many ms while owning, after the burst; 0 = off (default). */
  readonly refreshIntervalMs: number;
  /**
   * Per-interface ceiling; default 50,000 frames/s. 0 or Infinity disables pacing. keepalived and MetalLB do
   * not pace by default (garp_interval/gna_interval 0); a ceiling still keeps a mass takeover from flooding.
   * At 1,000 frames/s the first round for the 3,300 VIPs of a failed node alone took 3.3 s; at 10,000 (until
   * round 9) a 10,000-VIP IPv4 crash (two frames per VIP, and the burst's later rounds sharing the budget)
   * re-announced everything 2.6-3.2 s after the kill against 4.0-4.4 s in alternating runs. 50,000 small
   * frames/s is ~25 Mbit/s, and issue 14 asks the send path for at least 20,000.
   */
  readonly maxFramesPerSecond: number;
  /** Frames an idle interface may send back to back before pacing starts. Default 32. */
  readonly burstFrames: number;
}

export const DEFAULT_ANNOUNCE_POLICY: AnnouncePolicy = {
  rounds: 5,
  spacingMs: 1000,
  refreshIntervalMs: 0,
  maxFramesPerSecond: 50_000,
  burstFrames: 32,
};

/**
 * Longest run of sends in one event-loop turn. A multicast NA can cost the sending thread ~1 ms in the
 * kernel when the receivers on the segment hold thousands of addresses (the lab: every namespace's
 * multicast list is scanned in the sender's softirq); thousands of them back to back stalled gossip long
 * enough for members to be suspected.
 */
const SLICE_MS = 10;
/** Where announce() checks that an IP is one, without a buffer per call. */
const IP_SCRATCH = new Uint8Array(16);

/** Frames handed to the transport at once (the packet socket sends them with one sendmmsg). */
const BATCH = 64;

/** Encodes which list a batched frame came from in batchEnds (queues are far shorter than this). */
const BATCH_LEVEL = 2 ** 40;

/**
 * Longest a repeat round waits for the address run under way (AnnouncerOptions.busyWork) past its due time.
 * A 10,000-VIP IPv6 takeover's adds run 10-20 s in the lab; repeats held that long would leave a client
 * whose first frame was lost on the old owner's MAC for as long.
 */
export const REPEAT_HOLD_MAX_MS = 10_000;

/** How late a pacing timer may fire and still have the frames it should have sent by then go out. */
const CATCH_UP_MS = 250;

export type FrameKind = "arp-request" | "arp-reply" | "na";

export interface AnnounceInterface {
  readonly name: string;
  readonly index: number;
  readonly mac: string;
  /**
   * The interface's IPv6 link-local address: the source of its NAs, as in the kernel's own unsolicited
   * NAs. Without one (IPv6 address generation off), the VIP itself is the source, as keepalived sends them;
   * RFC 4861 §7.1.2 asks receivers only for a unicast source.
   */
  readonly linkLocal?: string;
}

export interface OutgoingPacket {
  readonly kind: FrameKind;
  readonly ip: string;
  readonly ifname: string;
  readonly ifindex: number;
  /** The whole Ethernet frame, built once per announcement and sent again each round. */
  readonly bytes: Buffer;
}

export interface PacketTransport {
  /** false = the kernel queue is full right now; the packet is retried shortly. Throws on hard errors. */
  send(packet: OutgoingPacket): boolean;
  /**
   * Optional batch form: sends `packets` in order and returns how many the kernel took (fewer when its
   * queue filled). Throws when the first one fails hard; a hard failure later returns the count before it.
   */
  sendMany?(packets: readonly OutgoingPacket[]): number;
}

/** Real timers; tests pass a manual clock (the one Clock interface, lib/gossip/clock.ts). */
export const systemClock: Clock = new RealClock();

export interface FrameCount {
  readonly ip: string;
  readonly interface: string;
  readonly kind: FrameKind;
  count: number;
}

/** Frames handed to the kernel on one interface, of one kind, over all IPs. */
export interface FrameTotal {
  readonly interface: string;
  readonly kind: FrameKind;
  count: number;
}

export interface AnnouncerOptions {
  /**
   * Keep a count per (ip, interface, kind) for frameCounts(). Default true. The daemon turns it off: at
   * 10,000 VIPs the entries cost ~1.5 MB for numbers it exports only per interface (frameTotals()).
   */
  readonly countPerIp?: boolean;
  /**
   * Work under way that repeat rounds (and refreshes) wait for, up to REPEAT_HOLD_MAX_MS: the daemon's run of
   * address changes. Every frame's kernel time is spent on the main thread that also adds the addresses,
   * and a multicast NA costs more the more addresses its receivers hold (each scans its multicast list):
   * in a 10,000-VIP IPv6 takeover (lab, perf) the receivers' scans were a fifth of both cores, and the
   * repeats of the VIPs added first were three quarters of the NAs sent while the adds still ran. First
   * rounds never wait: they are what moves the clients.
   */
  readonly busyWork?: () => Promise<unknown> | undefined;
}

interface Announcement {
  readonly generation: number;
  readonly packets: readonly OutgoingPacket[];
  /** Its first round too waits behind the first rounds of others (see announce). */
  readonly routine: boolean;
  roundsSent: number;
  timer?: TimerHandle;
  /** When the round now due was first held back for busyWork (cleared once it goes). */
  heldSince?: number;
}

interface Queued {
  readonly packet: OutgoingPacket;
  readonly generation: number;
}

/** Token bucket + two FIFO levels: first rounds of a takeover go before repeats and refreshes. */
class InterfaceQueue {
  readonly urgent: Queued[] = [];
  readonly routine: Queued[] = [];
  tokens: number;
  lastRefill: number;
  timer?: TimerHandle;

  constructor(capacity: number, now: number) {
    this.tokens = capacity;
    this.lastRefill = now;
  }

  get length(): number {
    return this.urgent.length + this.routine.length;
  }
}

export class Announcer {
  private readonly policy: AnnouncePolicy;
  private readonly active = new Map<string, Announcement>();
  private readonly queues = new Map<string, InterfaceQueue>();
  private readonly counts = new Map<string, FrameCount>();
  private readonly totals = new Map<string, FrameTotal>();
  private readonly countPerIp: boolean;
  private readonly busyWork: () => Promise<unknown> | undefined;
  /** Repeat rounds held back (announcement -> its IP) until `heldOn` (busyWork's promise) settles. */
  private held = new Map<Announcement, string>();
  private heldOn: Promise<unknown> | undefined;
  private generation = 0;
  /** Frames of the announcements in force: what the queues would hold if nothing in them were stale. */
  private liveFrames = 0;
  private stopped = false;
  /** Reused for every batch handed to the transport. */
  private readonly batch: OutgoingPacket[] = [];
  /** For batch[i]: how far into its queue list it was (level * BATCH_LEVEL + index + 1). */
  private readonly batchEnds: number[] = [];
  sendErrors = 0;
  lastError: string | undefined;

  constructor(
    private readonly transport: PacketTransport,
    policy: Partial<AnnouncePolicy> = {},
    private readonly clock: Clock = systemClock,
    options: AnnouncerOptions = {},
  ) {
    this.policy = { ...DEFAULT_ANNOUNCE_POLICY, ...policy };
    this.countPerIp = options.countPerIp ?? true;
    this.busyWork = options.busyWork ?? (() => undefined);
    if (this.policy.rounds < 1) throw new Error("announce policy: rounds must be at least 1");
  }

  /**
   * Starts (or restarts) the burst for `ip` on `interfaces`: takeover, repair, or interface change. A
   * `routine` burst (every held VIP said again when a member comes back: 33,000 frames at 10,000 VIPs) queues
   * even its first round behind the first rounds of takeovers.
   */
  announce(ip: string, interfaces: readonly AnnounceInterface[], routine = false): void {
    if (this.stopped) return;
    const family = ip.includes(":") ? 6 : 4;
    try {
      writeIp(IP_SCRATCH, 0, ip, family);
    } catch {
      throw new Error(`announce: not an IP address: ${ip}`);
    }
    this.withdraw(ip);
    const packets: OutgoingPacket[] = [];
    for (const itf of interfaces) {
      const base = { ip, ifname: itf.name, ifindex: itf.index };
      if (family === 4) {
        const [request, reply] = gratuitousArpFrames(ip, itf.mac);
        packets.push(
          { ...base, kind: "arp-request", bytes: request },
          { ...base, kind: "arp-reply", bytes: reply },
        );
      } else {
        packets.push({
          ...base,
          kind: "na",
          bytes: unsolicitedNeighborAdvertisementFrame(ip, itf.mac, itf.linkLocal ?? ip),
        });
      }
    }
    const announcement: Announcement = { generation: ++this.generation, packets, routine, roundsSent: 0 };
    this.active.set(ip, announcement);
    this.liveFrames += packets.length;
    this.round(ip, announcement);
  }

  /** Stops everything for `ip` (leadership lost): pending rounds and frames still queued are dropped. */
  withdraw(ip: string): void {
    const announcement = this.active.get(ip);
    if (!announcement) return;
    if (announcement.timer !== undefined) this.clock.clearTimer(announcement.timer);
    this.held.delete(announcement);
    this.active.delete(ip);
    this.liveFrames -= announcement.packets.length;
  }

  isAnnouncing(ip: string): boolean {
    return this.active.has(ip);
  }

  /** Frames handed to the kernel so far, one entry per (interface, kind); live objects, do not modify. */
  frameTotals(): Iterable<FrameTotal> {
    return this.totals.values();
  }

  /** Frames handed to the kernel so far, one entry per (ip, interface, kind); empty without countPerIp. */
  frameCounts(): FrameCount[] {
    return [...this.counts.values()].map((c) => ({ ...c }));
  }

  /** Queued frames, send errors and per-interface totals, for the metrics. */
  summary(): { queued: number; errors: number; totals: Iterable<FrameTotal> } {
    return { queued: this.queuedFrames(), errors: this.sendErrors, totals: this.totals.values() };
  }

  /** Frames waiting for pacing, over all interfaces. */
  queuedFrames(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  stop(): void {
    this.stopped = true;
    this.held.clear();
    this.heldOn = undefined;
    for (const ip of [...this.active.keys()]) this.withdraw(ip);
    for (const q of this.queues.values()) {
      if (q.timer !== undefined) this.clock.clearTimer(q.timer);
      q.urgent.length = 0;
      q.routine.length = 0;
    }
  }

  private round(ip: string, announcement: Announcement): void {
    announcement.timer = undefined;
    this.held.delete(announcement);
    if (this.active.get(ip) !== announcement) return;
    if (announcement.roundsSent > 0 && this.holdRepeat(ip, announcement)) return;
    announcement.heldSince = undefined;
    const urgent = announcement.roundsSent === 0 && !announcement.routine;
    announcement.roundsSent++;
    for (const packet of announcement.packets) this.enqueue(packet, announcement.generation, urgent);
    const inBurst = announcement.roundsSent < this.policy.rounds;
    const delay = inBurst ? this.policy.spacingMs : this.policy.refreshIntervalMs;
    if (delay > 0) announcement.timer = this.clock.setTimer(delay, () => this.round(ip, announcement));
  }

  /** Holds a repeat round back while busyWork runs (see AnnouncerOptions.busyWork); true if it was. */
  private holdRepeat(ip: string, announcement: Announcement): boolean {
    const busy = this.busyWork();
    if (busy === undefined) return false;
    const now = this.clock.now();
    announcement.heldSince ??= now;
    const left = announcement.heldSince + REPEAT_HOLD_MAX_MS - now;
    if (left <= 0) return false;
    this.held.set(announcement, ip);
    announcement.timer = this.clock.setTimer(left, () => this.round(ip, announcement));
    if (this.heldOn !== busy) {
      this.heldOn = busy;
      const release = (): void => this.releaseHeld(busy);
      busy.then(release, release);
    }
    return true;
  }

  /** busyWork's run settled: its held rounds go now (or wait for the next run, if one started). */
  private releaseHeld(settled: Promise<unknown>): void {
    if (this.heldOn !== settled || this.stopped) return;
    this.heldOn = undefined;
    const held = [...this.held];
    this.held.clear();
    for (const [announcement, ip] of held) {
      if (announcement.timer !== undefined) this.clock.clearTimer(announcement.timer);
      this.round(ip, announcement);
    }
  }

  private enqueue(packet: OutgoingPacket, generation: number, urgent: boolean): void {
    let queue = this.queues.get(packet.ifname);
    if (!queue) {
      queue = new InterfaceQueue(this.policy.burstFrames, this.clock.now());
      this.queues.set(packet.ifname, queue);
    }
    (urgent ? queue.urgent : queue.routine).push({ packet, generation });
    // Frames of withdrawn or re-announced VIPs stay queued until drained (skipped then). When membership
    // churns at thousands of VIPs, every re-announce would pile up another copy (262,000 queued frames were
    // seen at 10,000 VIPs): drop the stale ones once they are most of the queue.
    if (queue.length > 1024 && queue.length > 4 * this.liveFrames * this.policy.rounds) this.compact(queue);
    if (queue.timer === undefined) this.drain(queue);
  }

  private drain(queue: InterfaceQueue, backlogged = false): void {
    queue.timer = undefined;
    const rate = this.policy.maxFramesPerSecond;
    const paced = rate > 0 && Number.isFinite(rate);
    if (paced) {
      const now = this.clock.now();
      // An idle interface may start with burstFrames back to back. A backlog drained by our own timer may
      // also make up for the timer firing late (a busy event loop): capped at burstFrames, the rate fell to
      // burstFrames per loop turn (3,000 frames took 9.5 s instead of 3 s with 100 ms loop turns).
      const cap = backlogged
        ? Math.max(this.policy.burstFrames, (CATCH_UP_MS * rate) / 1000)
        : this.policy.burstFrames;
      queue.tokens = Math.min(cap, queue.tokens + ((now - queue.lastRefill) * rate) / 1000);
      queue.lastRefill = now;
    }
    const sliceEnd = this.clock.now() + SLICE_MS;
    const batch = this.batch;
    while (queue.length > 0 && (!paced || queue.tokens >= 1)) {
      if (this.clock.now() > sliceEnd) {
        // Yield: the rest goes on the next turn, so gossip and netlink are not starved meanwhile.
        queue.timer = this.clock.setTimer(0, () => this.drain(queue, true));
        return;
      }
      // The next frames in priority order, up to the tokens left. Checked at send time: a VIP withdrawn
      // (or re-announced elsewhere) while queued sends nothing; its frames are dropped here.
      const limit = paced ? Math.min(BATCH, Math.floor(queue.tokens)) : BATCH;
      batch.length = 0;
      const taken = [0, 0];
      [queue.urgent, queue.routine].forEach((list, level) => {
        let stale = 0;
        while (stale < list.length && !this.isLive(list[stale])) stale++;
        list.splice(0, stale);
        let at = 0;
        for (; at < list.length && batch.length < limit; at++) {
          const item = list[at];
          if (this.isLive(item)) {
            batch.push(item.packet);
            this.batchEnds[batch.length - 1] = level * BATCH_LEVEL + at + 1;
          }
        }
        taken[level] = at;
      });
      if (batch.length === 0) {
        // Only stale frames were in reach: drop them.
        queue.urgent.splice(0, taken[0]);
        queue.routine.splice(0, taken[1]);
        continue;
      }
      let accepted: number;
      try {
        accepted = this.sendBatch(batch);
      } catch (error) {
        this.sendErrors++;
        this.lastError = error instanceof Error ? error.message : String(error);
        this.takeFront(queue, 1);
        continue;
      }
      if (accepted > 0) this.takeFront(queue, accepted);
      if (paced) queue.tokens -= accepted;
      for (let i = 0; i < accepted; i++) this.count(batch[i]);
      if (accepted < batch.length) {
        queue.timer = this.clock.setTimer(1, () => this.drain(queue, true));
        return;
      }
    }
    if (queue.length > 0) {
      const waitMs = Math.max(1, Math.ceil(((1 - queue.tokens) * 1000) / rate));
      queue.timer = this.clock.setTimer(waitMs, () => this.drain(queue, true));
    }
  }

  /** Through the transport's batch form when it has one; else one by one. */
  private sendBatch(packets: readonly OutgoingPacket[]): number {
    if (this.transport.sendMany) return this.transport.sendMany(packets);
    let sent = 0;
    for (const packet of packets) {
      let accepted: boolean;
      try {
        accepted = this.transport.send(packet);
      } catch (error) {
        if (sent === 0) throw error;
        return sent;
      }
      if (!accepted) return sent;
      sent++;
    }
    return sent;
  }

  /** Removes the first `n` frames of the last batch from the queue, with the stale ones among them. */
  private takeFront(queue: InterfaceQueue, n: number): void {
    let urgentEnd = 0;
    let routineEnd = 0;
    for (let i = 0; i < n; i++) {
      const end = this.batchEnds[i];
      if (end >= BATCH_LEVEL) routineEnd = end - BATCH_LEVEL;
      else urgentEnd = end;
    }
    // The routine list is only reached once every urgent frame in reach was taken.
    if (routineEnd > 0) urgentEnd = queue.urgent.length;
    queue.urgent.splice(0, urgentEnd);
    queue.routine.splice(0, routineEnd);
  }

  /** Still to be sent: its VIP is announced, and by the announcement that queued it. */
  private isLive(item: Queued): boolean {
    return this.active.get(item.packet.ip)?.generation === item.generation;
  }

  private compact(queue: InterfaceQueue): void {
    for (const list of [queue.urgent, queue.routine]) {
      const kept = list.filter((q) => this.isLive(q));
      list.length = 0;
      list.push(...kept);
    }
  }

  private count(packet: OutgoingPacket): void {
    const totalKey = `${packet.ifname}|${packet.kind}`;
    const total = this.totals.get(totalKey);
    if (total) total.count++;
    else this.totals.set(totalKey, { interface: packet.ifname, kind: packet.kind, count: 1 });
    if (!this.countPerIp) return;
    const key = `${packet.ip}|${packet.ifname}|${packet.kind}`;
    const entry = this.counts.get(key);
    if (entry) entry.count++;
    else this.counts.set(key, { ip: packet.ip, interface: packet.ifname, kind: packet.kind, count: 1 });
  }
}
