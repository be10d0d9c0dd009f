// Address conflict detection, the timing: RFC 5227-style probes before taking an IPv4 VIP (DAD-style
// Neighbor Solicitations for IPv6, RFC 4862), and a watch on the VIPs this node holds (ARP claims for IPv4,
// Neighbor Advertisements for IPv6). It only reports who claimed what; whether a claimant is this node, a member or
// a foreign device is the daemon's call (claimOrigin). The sockets are opened on first use, so a node that
// never probes or holds an IPv4 VIP never opens them.
import { arpSenderIp, parseArpFrame } from "./arp-frame";
import { arpClaim, arpProbeFrame, UNSPECIFIED_IPV4, type ArpClaim } from "./arp-conflict";
import { PACKET_OUTGOING, type FrameSource } from "./arp-listener";
import type { Clock, TimerHandle } from "../gossip/clock";
import { systemClock, type AnnounceInterface } from "./announcer";
import type { FrameSink, OutgoingFrame } from "./packet-socket";
import type { ClaimSource } from "./na-listener";
import { dadProbeFrame } from "./ndp-conflict";

export interface ConflictMonitorOptions {
  /** How long a probe listens for an answer; a second probe goes out half-way. */
  readonly probeMs: number;
  /**
   * How often received frames are read while something is probed or watched. 0: never on a timer of its
   * own; the owner calls readPending() on its (the daemon does, from its main-thread pulse).
   */
  readonly pollMs: number;
}

export const DEFAULT_CONFLICT_OPTIONS: ConflictMonitorOptions = { probeMs: 150, pollMs: 50 };

export interface ObservedClaim extends ArpClaim {
  readonly ifindex: number;
}

interface Probe {
  readonly claims: ObservedClaim[];
}

/** A probe's frame on one interface, built once for both of its sends. */
interface ProbeFrame extends OutgoingFrame {
  readonly frame: Buffer;
}

/** A running probe, its frames and how it ends. */
interface BatchedProbe {
  readonly ip: string;
  readonly probe: Probe;
  readonly frames: readonly ProbeFrame[];
  readonly resolve: (claims: ObservedClaim[]) => void;
  readonly reject: (error: Error) => void;
}

/**
 * Probes begun in one turn of the loop: a start-up or a large reload begins thousands at once. Each sends
 * its first frame at once (a reload's new VIP is probed while its election runs, early-probes.ts); their
 * second frames leave together (sendmmsg) and their verdicts come together, after one read of the socket,
 * probeMs after the last of them was sent. Two timers and a read per probe were most of ~1 s of a
 * 10,000-VIP start-up's main thread, and the verdicts due "100 ms" after their probe came 600-800 ms after
 * it (issue 14, round 21).
 */
interface ProbeBatch {
  readonly members: BatchedProbe[];
  /** When the last member sent its first frames (clock ms): the batch's window runs from then. */
  lastSentAt: number;
}

/** Frames read per poll at most, so a flood cannot stall the event loop; the rest waits for the next poll. */
const MAX_FRAMES_PER_POLL = 2000;

export class ConflictMonitor {
  private readonly options: ConflictMonitorOptions;
  private source: FrameSource | undefined;
  private naSource: ClaimSource | undefined;
  private sink: FrameSink | undefined;
  private readonly probes = new Map<string, Probe>();
  private watched = new Set<string>();
  private readonly listeners = new Set<(claim: ObservedClaim) => void>();
  private pollTimer: TimerHandle | undefined;
  /** The batch the probes begun in this turn join (launched at the turn's end). */
  private forming: ProbeBatch | undefined;
  private closed = false;

  constructor(
    private readonly openSource: () => FrameSource,
    private readonly openSink: () => FrameSink,
    options: Partial<ConflictMonitorOptions> = {},
    private readonly clock: Clock = systemClock,
    /** IPv6 claims (NAs); without it IPv6 VIPs are neither probed nor watched. */
    private readonly openNaSource?: () => ClaimSource,
  ) {
    this.options = { ...DEFAULT_CONFLICT_OPTIONS, ...options };
  }

  /**
   * Probes `ip` on `interfaces` and resolves, after `probeMs`, with every claim on it heard meanwhile
   * (own frames included when another local interface hears them). Rejects when a socket cannot be used.
   *
   * The first frames leave at once; the second and the verdict are shared with every other probe begun in
   * the same turn of the loop (see ProbeBatch).
   */
  probe(ip: string, interfaces: readonly AnnounceInterface[]): Promise<ObservedClaim[]> {
    if (this.closed) return Promise.resolve([]);
    if (this.probes.has(ip)) return Promise.reject(new Error(`a probe for ${ip} is already running`));
    const v6 = ip.includes(":");
    if (v6 && !this.openNaSource) return Promise.resolve([]);
    let frames: ProbeFrame[];
    try {
      if (v6) this.naSource ??= this.openNaSource?.();
      else this.source ??= this.openSource();
      this.sink ??= this.openSink();
      frames = interfaces.map((itf) => ({
        ifindex: itf.index,
        frame: v6 ? dadProbeFrame(ip, itf.mac) : arpProbeFrame(ip, itf.mac),
      }));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const probe: Probe = { claims: [] };
    this.probes.set(ip, probe);
    this.schedulePoll();
    return new Promise<ObservedClaim[]>((resolve, reject) => {
      const member: BatchedProbe = { ip, probe, frames, resolve, reject };
      if (!this.send(member)) return;
      let batch = this.forming;
      if (batch === undefined) {
        const formed: ProbeBatch = { members: [], lastSentAt: 0 };
        this.forming = batch = formed;
        queueMicrotask(() => this.launch(formed));
      }
      batch.members.push(member);
      batch.lastSentAt = this.clock.now();
    });
  }

  /**
   * At the end of the turn: the batch's second frames half-way through its window and its verdicts at the
   * end, counted from its last first frame (the turn may have run on for a while after it). A window that
   * ran out during the turn ends here, in the same turn: the second frames go out and the verdicts are given
   * at once, as the two timers would have done back to back. As timers set after the turn they waited behind
   * the loop's other timers and input: a 10,000-service reload's new VIP waited for the next full election
   * pass, the peers' records and its own record, up to ~630 ms, before its add (issue 14, round 23).
   */
  private launch(batch: ProbeBatch): void {
    if (this.forming === batch) this.forming = undefined;
    const elapsed = this.clock.now() - batch.lastSentAt;
    const { probeMs } = this.options;
    if (elapsed >= probeMs) {
      this.sendBatch(batch);
      return this.verdict(batch);
    }
    this.clock.setTimer(Math.max(0, probeMs / 2 - elapsed), () => this.sendBatch(batch));
    this.clock.setTimer(probeMs - elapsed, () => this.verdict(batch));
  }

  /** The batch's verdicts, after one read of the socket for all of them. */
  private verdict(batch: ProbeBatch): void {
    const live = batch.members.filter((m) => this.probes.get(m.ip) === m.probe);
    if (live.length === 0) return;
    // One read for the whole batch: thousands of verdicts due at once read the socket once, not each.
    this.poll();
    for (const m of live) {
      this.probes.delete(m.ip);
      m.resolve(m.probe.claims);
    }
  }

  /**
   * One probe's first frames. A full kernel queue drops what it does not take (a probe is best effort, and it
   * sends twice); any other failure ends the probe with the error. Returns whether the probe goes on.
   */
  private send(member: BatchedProbe): boolean {
    try {
      for (const f of member.frames) this.sink?.send(f.ifindex, f.frame);
      return true;
    } catch (error) {
      this.fail([member], error);
      return false;
    }
  }

  /** The second frames of the batch's probes still running, many per system call where the sink can. */
  private sendBatch(batch: ProbeBatch): void {
    const live = batch.members.filter((m) => this.probes.get(m.ip) === m.probe);
    const sink = this.sink;
    if (live.length === 0 || sink === undefined) return;
    try {
      if (sink.sendMany) sink.sendMany(live.flatMap((m) => m.frames));
      else for (const m of live) for (const f of m.frames) sink.send(f.ifindex, f.frame);
    } catch (error) {
      this.fail(live, error);
    }
  }

  private fail(members: readonly BatchedProbe[], error: unknown): void {
    for (const m of members) {
      this.probes.delete(m.ip);
      m.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** The IPs this node holds now: claims on them are reported to the listeners as they arrive. */
  watch(ips: Iterable<string>): void {
    this.watched = new Set(ips);
    if (this.watched.size === 0 || this.closed) return;
    const list = [...this.watched];
    // Best effort: the probe path reports a missing capability; a source that cannot open is skipped.
    try {
      if (list.some((ip) => !ip.includes(":"))) this.source ??= this.openSource();
    } catch {
      // no IPv4 watch
    }
    try {
      if (this.openNaSource && list.some((ip) => ip.includes(":"))) this.naSource ??= this.openNaSource();
    } catch {
      // no IPv6 watch
    }
    if (this.source || this.naSource) this.schedulePoll();
  }

  onClaim(listener: (claim: ObservedClaim) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.closed = true;
    if (this.pollTimer !== undefined) this.clock.clearTimer(this.pollTimer);
    this.pollTimer = undefined;
    this.probes.clear();
    this.forming = undefined;
    this.source?.close();
    this.naSource?.close();
    this.sink?.close();
    this.source = undefined;
    this.naSource = undefined;
    this.sink = undefined;
  }

  /** Reads what the sockets received, if anything is probed or watched (for an owner-driven poll). */
  readPending(): void {
    if (this.closed || (this.probes.size === 0 && this.watched.size === 0)) return;
    this.poll();
  }

  private schedulePoll(): void {
    if (this.pollTimer !== undefined || this.closed || this.options.pollMs <= 0) return;
    this.pollTimer = this.clock.setTimer(this.options.pollMs, () => {
      this.pollTimer = undefined;
      this.poll();
      if (this.probes.size > 0 || this.watched.size > 0) this.schedulePoll();
    });
  }

  private poll(): void {
    if (this.naSource) for (const claim of this.naSource.drain(MAX_FRAMES_PER_POLL)) this.observe(claim);
    if (!this.source) return;
    for (let read = 0; read < MAX_FRAMES_PER_POLL;) {
      let frames;
      try {
        frames = this.source.receive(MAX_FRAMES_PER_POLL - read);
      } catch {
        return;
      }
      if (frames.length === 0) return;
      read += frames.length;
      // Each batch is read before the next receive() reuses its memory.
      for (const frame of frames) {
        if (frame.pkttype === PACKET_OUTGOING) continue;
        // Most frames are peers' announcements of their own VIPs (tens of thousands in a large takeover): a
        // claim on an IP nobody probes or watches reaches no one (observe), so it is not parsed further.
        const sender = arpSenderIp(frame.bytes);
        if (sender === undefined) continue;
        if (sender !== UNSPECIFIED_IPV4 && !this.probes.has(sender) && !this.watched.has(sender)) continue;
        const arp = parseArpFrame(frame.bytes);
        if (!arp) continue;
        const claim = arpClaim(arp, { probing: this.probes.has(arp.targetIp) });
        if (!claim) continue;
        this.observe({ ...claim, ifindex: frame.ifindex });
      }
    }
  }

  private observe(claim: ObservedClaim): void {
    this.probes.get(claim.ip)?.claims.push(claim);
    if (this.watched.has(claim.ip)) for (const listener of this.listeners) listener(claim);
  }
}
