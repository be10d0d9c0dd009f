// Cluster membership: SWIM (Das et al. 2002) with Lifeguard (Dadgar et al. 2017), plus a heartbeat fast
// path for sub-second failover. One instance per node; it owns no socket or timer directly (Transport and
// Clock are injected), so it runs identically over UDP with real time and on the deterministic simulator.
//
// Failure detection has two detectors feeding one suspicion mechanism:
//  - fast path: every member sends a tiny heartbeat to its k ring successors every heartbeatIntervalMs;
//    a watcher that hears nothing from an armed predecessor for heartbeatTimeoutMs (× local health)
//    raises a suspicion and tells everyone, the suspect included (so a live one refutes at once).
//  - SWIM probe: ping / ping-req via helpers / nack, one target per probe interval, for local-health
//    signals and as a second opinion.
// A suspicion becomes a death after the Lifeguard timeout, which collapses from suspicionMaxMs to
// suspicionMinMs when k independent watchers confirm. A crash is seen by all k watchers at nearly the same
// moment (they all stop getting the same heartbeat round), so confirmations arrive within a millisecond and
// detection ≈ failureTimeoutMs; random loss makes one watcher suspect alone, the suspect refutes, and no
// one dies.
//
// Our own verdict is gated on evidence we gathered ourselves (this is what keeps 2-member clusters, where
// Lifeguard has no one to confirm, and loaded hosts from flapping):
//  - silence is counted only while our own event loop ran: every timer of ours that fires late adds the
//    gap to a "blind" total, and a peer's silence excludes the blind time since we last heard it
//    (Lifeguard self-awareness, per window rather than per score);
//  - a member we heard from less than failureTimeoutMs (× local health) ago of such silence is not
//    declared dead, whatever the suspicion timer says; we re-send it the suspicion so it refutes;
//  - a silent watched member is pinged every heartbeat interval from 2 missed heartbeats on, so an ack
//    is one more chance to hear it on a lossy link;
//  - checks run after the packets waiting in our socket have been read (Clock.afterPendingIo).
import { EventEmitter } from "node:events";
import type { Clock, TimerHandle } from "./clock";
import {
  CodecError,
  decodePacketBody,
  decodePacketHeader,
  encodeMessage,
  encodePacket,
  entrySize,
  headerSize,
  MESSAGE_TYPES,
  type Message,
  type PushPullEntry,
} from "./codec";
import { LAN, pushPullScale, retransmitLimit, suspicionScale, type GossipConfig } from "./config";
import { Awareness, refuteCountsAgainstUs, type HealthCause } from "./awareness";
import { GapHistory, learnedVerdictTimeout } from "./gap-history";
import { NO_KEY_MESSAGE, SEAL_OVERHEAD, type Keyring } from "./keyring";
import { decideAlive, decideDead, decideSuspect, isLive, type MemberRecord } from "./members";
import {
  decodeRecord,
  EMPTY_METADATA,
  encodeMetadata,
  MetadataFormatError,
  metadataDigest,
  readRecordVersions,
  type MemberMetadata,
} from "./metadata";
import {
  LEGACY_VERSIONS,
  negotiate,
  OWN_RANGES,
  holdsChosen,
  negotiatesAlike,
  versionsText,
  type MemberVersions,
  type OwnRanges,
} from "./version";
import { BroadcastQueue } from "./queue";
import { ReplayGuard } from "./replay";
import { ringNeighbours } from "./ring";
import { Rng } from "./rng";
import { newStats, type GossipStats, type RejectReason } from "./stats";
import { Suspicion } from "./suspicion";
import type { Transport } from "./transport";
import type { MemberStateName } from "./codec";

export interface MemberView {
  readonly name: string;
  readonly addr: string;
  readonly state: MemberStateName;
  readonly incarnation: number;
  /** Latest decoded metadata; undefined until first fetched. */
  readonly metadata: MemberMetadata | undefined;
  /** The versions it advertised with that metadata (vipd 0.1.0's when it advertised none). */
  readonly versions: MemberVersions | undefined;
  readonly metadataDigest: string;
  /** Clock time of the last state change. */
  readonly since: number;
  /**
   * On dead/leave events: how long before the event this node last received a packet from the member (its
   * last sign of life), so failover time can include detection. A duration, not a time: the gossip thread's
   * clock is not the daemon's. Absent when this node never heard it directly.
   */
  readonly silentForMs?: number;
}

export interface MemberlistEvents {
  join: [MemberView];
  alive: [MemberView];
  suspect: [MemberView];
  dead: [MemberView];
  leave: [MemberView];
  metadata: [MemberView];
  /** A member whose versions do not overlap ours: dropped from the table, its packets ignored. */
  refused: [MemberView, reason: string];
  /** Our Lifeguard local-health score moved (0 = healthy; timeouts stretch by score + 1). */
  health: [score: number, cause: HealthCause];
  /**
   * The versions we speak changed (a 0.1.0 member came or went). A caller that hands us its record already
   * encoded (setEncodedMetadata) encodes it again with these and hands it over; until then the old bytes stay.
   */
  speaking: [MemberVersions];
}

export interface MemberlistOptions {
  /** Unique node name (≤ 255 bytes UTF-8). */
  name: string;
  /** "host:port" peers use to reach us. */
  advertiseAddr: string;
  config?: GossipConfig;
  transport: Transport;
  clock: Clock;
  /** Seed for every random choice (probe order, gossip targets, jitter). */
  seed?: number;
  keyring?: Keyring;
  /** Plaintext without a keyring; must be explicit. */
  insecure?: boolean;
  /** Bound into every packet (AAD); clusters with different labels never talk. Default "vipd". */
  clusterLabel?: string;
  metadata?: MemberMetadata;
  /** Boot epoch for anti-replay; default wall-clock ms. Must grow across restarts. */
  epoch?: number;
  /** This node's release, advertised to the others (shown in their `vipd status`). */
  build?: string;
  /** The version ranges we speak; default this build's (tests give others to play a future release). */
  versionRanges?: OwnRanges;
  /**
   * Write our record in the oldest metadata format we know until the first negotiation (with the members we
   * meet) steps it up. A rejoining node's first record must be readable by a vipd 0.1.0 peer: 0.1.0 keeps
   * using the node's previous record (which may call it eligible) until it can read the new one.
   */
  greetInOldestFormat?: boolean;
  /**
   * Read only the format and versions of peers' records, leaving MemberView.metadata undefined: the gossip
   * thread hands the bytes on (encodedMetadata) and the daemon decodes them, so the failure detector does not
   * spend ~25 ms building each 10,000-VIP record nobody on its thread reads. Default false.
   */
  versionsOnly?: boolean;
}

const INSECURE_VERSION = 0;
// Metadata chunks have one size cluster-wide (any member may serve any chunk of a record), chosen so a
// chunk packet fits in 1400 bytes with the longest allowed name and label.
const METADATA_CHUNK_BYTES = 960;
const MAX_NAME_BYTES = 128;
const MAX_LABEL_BYTES = 120;
const MESSAGE_OVERHEAD = 2;
const EMPTY_ENCODED = encodeMetadata(EMPTY_METADATA);
const EMPTY_DIGEST = metadataDigest(EMPTY_ENCODED);

interface PendingProbe {
  target: string;
  acked: boolean;
  nacks: number;
  onAck?: () => void;
}

interface MetaFetch {
  digest: string;
  parts: (Buffer | undefined)[];
  received: number;
  retries: number;
  timer: TimerHandle | undefined;
}

export class Memberlist extends EventEmitter<MemberlistEvents> {
  readonly name: string;
  readonly advertiseAddr: string;
  readonly config: GossipConfig;
  private readonly transport: Transport;
  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly keyring: Keyring | undefined;
  private readonly label: Buffer;
  private readonly awareness: Awareness;
  private readonly replay: ReplayGuard;
  private readonly queue = new BroadcastQueue();
  private gossipPending = false;
  private readonly table = new Map<string, MemberRecord>();
  private readonly suspicions = new Map<string, Suspicion>();
  private readonly statsData: GossipStats = newStats();
  private readonly build: string;
  private readonly versionsOnly: boolean;
  private readonly ranges: OwnRanges;
  /** The versions we speak now: the highest every live member understands (see version.ts). */
  private speaking: { protocol: number; metadata: number };
  /** Whether renegotiate() has run: until then `speaking` may be a greeting format, not a negotiated one. */
  private negotiatedOnce = false;
  /** Members refused for their versions, with the metadata digest that was refused (a new one is re-read). */
  private readonly refused = new Map<string, { digest: string; reason: string }>();

  private incarnation = 1;
  private epoch: number;
  private seq = 0;
  private running = false;
  private leaving = false;
  private closed = false;

  // fast path
  private ringDirty = true;
  private liveDirty = true;
  /** Other members that are alive or suspect (cached; rebuilt after membership changes). */
  private liveRecords: MemberRecord[] = [];
  private successors: string[] = [];
  private predecessors: string[] = [];
  private readonly armed = new Set<string>();
  private readonly lastHeard = new Map<string, number>();
  private readonly suspectedByMe = new Map<string, number>();
  private lastStallAt = -Infinity;
  private heartbeatEncoded: { readonly incarnation: number; readonly bytes: Buffer } | undefined;
  /** Total time our own timers were observed late (union of [due, fired] gaps): time we could not listen. */
  private blindMs = 0;
  private blindUntil = -Infinity;
  /** blindMs when we last heard each member: silence excludes blind time accrued since. */
  private readonly blindAtHeard = new Map<string, number>();
  /** Members with a pending verdict recheck (the suspicion timer ran out while we still heard them). */
  private readonly verdictRechecks = new Map<string, TimerHandle>();
  /** Longest recent gaps of each watched member: its verdict waits for more than those (gap-history.ts). */
  private readonly gaps = new Map<string, GapHistory>();

  // SWIM probe
  private probeOrder: string[] = [];
  private probeIndex = 0;
  private probeSeq = 1;
  private readonly probes = new Map<number, PendingProbe>();

  // anti-entropy / join
  private seeds: string[] = [];
  private joinBackoff = 0;
  private joinTimer: TimerHandle | undefined;
  private readonly answered = new Map<string, number>();
  private readonly pokedAt = new Map<string, number>();
  private readonly metaFetches = new Map<string, MetaFetch>();

  private readonly timers = new Set<TimerHandle>();

  constructor(opts: MemberlistOptions) {
    super();
    if (!opts.keyring && !opts.insecure) throw new Error(NO_KEY_MESSAGE);
    if (Buffer.byteLength(opts.name) === 0 || Buffer.byteLength(opts.name) > MAX_NAME_BYTES)
      throw new Error(`gossip: node name must be 1..${MAX_NAME_BYTES} bytes`);
    this.name = opts.name;
    this.advertiseAddr = opts.advertiseAddr;
    this.config = opts.config ?? LAN;
    this.transport = opts.transport;
    this.clock = opts.clock;
    this.rng = new Rng(opts.seed ?? Math.floor(Math.random() * 2 ** 32));
    this.keyring = opts.keyring;
    this.label = Buffer.from(opts.clusterLabel ?? "vipd");
    if (this.label.length > MAX_LABEL_BYTES)
      throw new Error(`gossip: cluster label must be ≤ ${MAX_LABEL_BYTES} bytes`);
    this.awareness = new Awareness(this.config.awarenessMaxMultiplier);
    this.replay = new ReplayGuard(this.config.replayWindow, this.config.replayEpochStaleMs);
    this.epoch = opts.epoch ?? Date.now();
    this.build = opts.build ?? "dev";
    this.versionsOnly = opts.versionsOnly === true;
    this.ranges = opts.versionRanges ?? OWN_RANGES;
    // Alone, we speak our highest (or, when asked, write our record in the oldest format: see
    // greetInOldestFormat); a member that knows less makes us step down once its record arrives.
    this.speaking = {
      protocol: this.ranges.protocol.max,
      metadata: opts.greetInOldestFormat === true ? this.ranges.metadata.min : this.ranges.metadata.max,
    };
    const meta = opts.metadata ?? EMPTY_METADATA;
    const encoded = this.encodeOwn(meta);
    this.table.set(this.name, {
      name: this.name,
      addr: this.advertiseAddr,
      state: "alive",
      incarnation: this.incarnation,
      metaDigest: metadataDigest(encoded),
      metaEncoded: encoded,
      meta,
      versions: this.ownVersions(),
      since: this.clock.now(),
    });
    this.transport.onPacket((packet, from) => this.receive(packet, from));
  }

  // ------------------------------------------------------------------------------------------------------
  // Public API

  start(): void {
    if (this.running || this.closed) return;
    this.running = true;
    this.schedule(this.untilHeartbeat(), () => this.heartbeatTick());
    this.schedule(this.jitter(this.config.probeIntervalMs), () => this.probeTick());
    this.gossipSoon();
    this.schedule(this.jitter(this.config.pushPullIntervalMs), () => this.pushPullTick());
    this.schedule(this.jitter(this.config.reconnectIntervalMs), () => this.reconnectTick());
    this.fdTick();
  }

  /** Contacts the seeds (push-pull); retried with backoff for as long as we are alone. */
  join(seeds: readonly string[]): void {
    this.seeds = seeds.filter((s) => s !== this.advertiseAddr);
    this.joinBackoff = this.config.joinRetryInitialMs;
    this.attemptJoin();
  }

  /** True when no other member is alive or suspect in our view. */
  isAlone(): boolean {
    return this.live().length === 0;
  }

  setMetadata(meta: MemberMetadata): void {
    const encoded = this.encodeOwn(meta);
    const digest = metadataDigest(encoded);
    const self = this.self();
    if (digest === self.metaDigest) return;
    self.metaDigest = digest;
    self.metaEncoded = encoded;
    self.meta = meta;
    self.versions = this.ownVersions();
    this.incarnation++;
    self.incarnation = this.incarnation;
    this.announceSelf(undefined);
  }

  /**
   * Our record, encoded by the caller for `versions` (the vector of the last "speaking" event, or
   * ownVersions() at start): the gossip thread takes it as bytes, so a 10,000-VIP record is never cloned into
   * or encoded on the failure detector's thread (~75 ms of it blocked per change). False, and nothing
   * changes, when the versions we speak moved on meanwhile: the "speaking" event that says so is on its way.
   */
  setEncodedMetadata(encoded: Buffer, versions: MemberVersions): boolean {
    const own = this.ownVersions();
    if (
      versions.protocol.current !== own.protocol.current ||
      versions.metadata.current !== own.metadata.current
    )
      return false;
    const self = this.self();
    // The caller keeps the object: without it renegotiate() asks for a new encoding instead of writing a stale one.
    self.meta = undefined;
    const digest = metadataDigest(encoded);
    if (digest === self.metaDigest) return true;
    self.metaDigest = digest;
    self.metaEncoded = encoded;
    self.versions = own;
    this.incarnation++;
    self.incarnation = this.incarnation;
    this.announceSelf(undefined);
    return true;
  }

  /**
   * A member's current record as gossiped (encoded), with its digest; undefined until fetched. The gossip
   * thread hands these bytes to the daemon, which decodes them there.
   */
  encodedMetadata(name: string): { readonly digest: string; readonly encoded: Buffer } | undefined {
    const rec = this.table.get(name);
    return rec?.metaEncoded ? { digest: rec.metaDigest, encoded: rec.metaEncoded } : undefined;
  }

  /** The version vector we advertise now (what setEncodedMetadata's caller encodes with). */
  get ownVersionVector(): MemberVersions {
    return this.ownVersions();
  }

  /** The gossip protocol version and metadata format we speak now. */
  get versions(): { readonly protocol: number; readonly metadata: number } {
    return { ...this.speaking };
  }

  private ownVersions(): MemberVersions {
    return {
      build: this.build,
      protocol: { ...this.ranges.protocol, current: this.speaking.protocol },
      metadata: { ...this.ranges.metadata, current: this.speaking.metadata },
    };
  }

  /** Our record in the format we speak now, with our version vector. */
  private encodeOwn(meta: MemberMetadata): Buffer {
    return encodeMetadata(meta, { format: this.speaking.metadata, versions: this.ownVersions() });
  }

  /**
   * Re-runs the negotiation over the live members whose versions we know: refuses those that do not
   * overlap, and re-publishes our record when the versions to speak changed (a 0.1.0 member came or went).
   */
  private renegotiate(): void {
    this.negotiatedOnce = true;
    const peers = this.live().flatMap((m) => (m.versions ? [{ name: m.name, versions: m.versions }] : []));
    const n = negotiate(this.ranges, peers);
    for (const r of n.refused) {
      const rec = this.table.get(r.name);
      if (rec) this.refuse(rec, r.reason);
    }
    if (n.protocol === this.speaking.protocol && n.metadata === this.speaking.metadata) return;
    this.speaking = { protocol: n.protocol, metadata: n.metadata };
    const self = this.self();
    self.versions = this.ownVersions();
    this.emit("speaking", self.versions);
    if (this.leaving || !self.meta) return;
    const encoded = this.encodeOwn(self.meta);
    self.metaEncoded = encoded;
    self.metaDigest = metadataDigest(encoded);
    this.incarnation++;
    self.incarnation = this.incarnation;
    this.announceSelf(undefined);
  }

  /**
   * Drops a member whose versions do not overlap ours, so it is never half a member: no probes, no ring
   * place, no votes. Its packets are ignored from now on, except its own alive news: a new record (another
   * release after an upgrade) is read again.
   */
  private refuse(rec: MemberRecord, reason: string): void {
    this.refused.set(rec.name, { digest: rec.metaDigest, reason });
    this.table.delete(rec.name);
    this.cancelSuspicion(rec.name);
    this.suspectedByMe.delete(rec.name);
    this.armed.delete(rec.name);
    this.lastHeard.delete(rec.name);
    const f = this.metaFetches.get(rec.name);
    if (f) {
      this.clock.clearTimer(f.timer);
      this.metaFetches.delete(rec.name);
    }
    this.membershipChanged();
    this.statsData.membersRefused++;
    this.emit(
      "refused",
      view(rec),
      `refused ${rec.name} (${rec.addr}): ${reason}; this node: ${versionsText(this.ownVersions())}`,
    );
  }

  /** Every known member, ourselves included. */
  members(): MemberView[] {
    return [...this.table.values()].map(view);
  }

  member(name: string): MemberView | undefined {
    const m = this.table.get(name);
    return m && view(m);
  }

  /** Broadcasts our leave and waits a little for it to spread; call stop() afterwards. */
  async leave(): Promise<void> {
    if (this.leaving || this.closed) return;
    this.leaving = true;
    const msg = encodeMessage({
      type: "dead",
      name: this.name,
      incarnation: this.incarnation,
      from: this.name,
    });
    this.self().state = "left";
    this.membershipChanged();
    this.enqueueBroadcast(this.name, msg);
    for (const m of this.table.values())
      if (m.name !== this.name && isLive(m.state)) this.sendTo(m.addr, [msg]);
    await new Promise<void>((resolve) => this.clock.setTimer(this.config.leavePropagateMs, resolve));
  }

  stop(): void {
    this.closed = true;
    this.running = false;
    for (const t of this.timers) this.clock.clearTimer(t);
    this.timers.clear();
    for (const s of this.suspicions.values()) s.cancel();
    this.suspicions.clear();
    for (const t of this.verdictRechecks.values()) this.clock.clearTimer(t);
    this.verdictRechecks.clear();
    for (const f of this.metaFetches.values()) this.clock.clearTimer(f.timer);
    this.metaFetches.clear();
    this.clock.clearTimer(this.joinTimer);
  }

  stats(): GossipStats {
    return {
      ...this.statsData,
      messagesOut: { ...this.statsData.messagesOut },
      messagesIn: { ...this.statsData.messagesIn },
      messageBytesOut: { ...this.statsData.messageBytesOut },
      messageBytesIn: { ...this.statsData.messageBytesIn },
      rejected: { ...this.statsData.rejected },
      blindMs: Math.round(this.blindMs),
      awareness: this.awareness.score,
      protocolVersion: this.speaking.protocol,
      metadataVersion: this.speaking.metadata,
      verdictTimeoutsMs: this.verdictTimeouts(),
    };
  }

  get localIncarnation(): number {
    return this.incarnation;
  }

  get healthScore(): number {
    return this.awareness.score;
  }

  // ------------------------------------------------------------------------------------------------------
  // Timers

  /** Every periodic timer goes through here so a late firing reveals that *we* stalled. */
  private schedule(ms: number, fn: () => void): void {
    if (this.closed) return;
    const due = this.clock.now() + ms;
    const handle = this.clock.setTimer(ms, () => {
      this.timers.delete(handle);
      if (this.closed) return;
      const now = this.clock.now();
      const drift = now - due;
      this.accountLateness(due, now);
      if (drift > this.config.stallThresholdMs) this.onStall(drift);
      fn();
    });
    this.timers.add(handle);
  }

  private jitter(ms: number): number {
    return ms * (0.75 + this.rng.next() * 0.5);
  }

  /**
   * A timer due at `due` ran at `now`: our loop could not run (or read packets) in between. Adds the part of
   * that gap beyond one heartbeat interval, not already counted, to blindMs. Shorter lateness is ordinary on
   * a busy host and harmless: verdicts are taken after the waiting packets are read (afterPendingIo), and
   * counting it would only slow detection there.
   */
  private accountLateness(due: number, now: number): void {
    const from = Math.max(due + this.config.heartbeatIntervalMs, this.blindUntil);
    if (now <= from) return;
    this.blindMs += now - from;
    this.blindUntil = now;
  }

  /** Silence from `name` that we observed with our own loop running (Infinity if never heard). */
  private silenceOf(name: string, now: number): number {
    const heard = this.lastHeard.get(name);
    if (heard === undefined) return Infinity;
    return now - heard - (this.blindMs - (this.blindAtHeard.get(name) ?? this.blindMs));
  }

  /**
   * A packet from `name` ends a gap: remember it if `name` heartbeats us (so its gaps mean something) and is
   * live in our view (a member back from dead starts a new history).
   */
  private recordGap(name: string, now: number): void {
    if (!this.armed.has(name) || !this.lastHeard.has(name)) return;
    const m = this.table.get(name);
    if (!m || !isLive(m.state)) return;
    let history = this.gaps.get(name);
    if (!history) this.gaps.set(name, (history = new GapHistory(now)));
    history.record(now, this.silenceOf(name, now));
  }

  /** Silence after which `name` is failed: failureTimeoutMs, or more if its recent gaps were long. */
  private verdictTimeoutOf(name: string, now: number): number {
    return learnedVerdictTimeout(this.config.failureTimeoutMs, this.gaps.get(name)?.habitual(now) ?? 0);
  }

  /** The verdict timeout in force for each member we watch (armed) and hold live. */
  private verdictTimeouts(): Record<string, number> {
    const now = this.clock.now();
    const out: Record<string, number> = {};
    for (const name of this.armed) {
      const m = this.table.get(name);
      if (m && isLive(m.state)) out[name] = Math.round(this.verdictTimeoutOf(name, now));
    }
    return out;
  }

  /** Silence after which we suspect `name`: the verdict's learned extra moves the suspicion along with it. */
  private suspectTimeoutOf(name: string, now: number): number {
    const extra = this.verdictTimeoutOf(name, now) - this.config.failureTimeoutMs;
    return this.awareness.scale(this.config.heartbeatTimeoutMs) + extra;
  }

  /**
   * Our process was frozen. Silence during the freeze is already excluded (blindMs), so only a freeze as
   * long as a whole failure timeout lowers our health (stretching our timeouts, Lifeguard-style): counting
   * every 100 ms pause left a member paused once a second with 8× slower detection of real crashes.
   */
  private onStall(driftMs: number): void {
    const now = this.clock.now();
    if (now - this.lastStallAt > this.config.stallThresholdMs) {
      this.statsData.stallsDetected++;
      if (driftMs >= this.config.failureTimeoutMs)
        this.adjustHealth(Math.min(3, Math.floor(driftMs / this.config.failureTimeoutMs)), "stall");
    }
    this.lastStallAt = now;
  }

  /** The next heartbeat: one interval on, on the cluster's shared grid when the clock has one. */
  private untilHeartbeat(): number {
    const interval = this.config.heartbeatIntervalMs;
    return this.clock.untilGrid ? this.clock.untilGrid(interval) : interval;
  }

  private heartbeatTick(): void {
    this.schedule(this.untilHeartbeat(), () => this.heartbeatTick());
    if (this.leaving) return;
    this.refreshRing();
    if (this.successors.length === 0) return;
    const hb = this.heartbeatMessage();
    for (const name of this.successors) {
      const m = this.table.get(name);
      if (m) this.sendTo(m.addr, [hb]);
    }
    // A watched member 2+ heartbeats silent gets a direct ping each interval: its ack is one more chance
    // to hear it before the verdict (on a lossy link heartbeats alone would decide at 1 − 0.9^6 odds).
    const now = this.clock.now();
    for (const name of this.predecessors) {
      if (!this.armed.has(name)) continue;
      const m = this.table.get(name);
      if (!m || (m.state !== "alive" && m.state !== "suspect")) continue;
      if (this.silenceOf(name, now) >= 2 * this.config.heartbeatIntervalMs)
        this.sendTo(m.addr, [encodeMessage({ type: "ping", seq: this.nextProbeSeq(), target: name })]);
    }
  }

  /** The heartbeat message, encoded once per incarnation (it is sent 40 times a second per successor). */
  private heartbeatMessage(): Buffer {
    if (this.heartbeatEncoded?.incarnation !== this.incarnation)
      this.heartbeatEncoded = {
        incarnation: this.incarnation,
        bytes: encodeMessage({ type: "heartbeat", incarnation: this.incarnation, stop: false }),
      };
    return this.heartbeatEncoded.bytes;
  }

  /** Fires at the earliest heartbeat deadline; cheap because heartbeats only move timestamps. */
  private fdTick(): void {
    if (this.closed) return;
    const now = this.clock.now();
    let next = now + this.awareness.scale(this.config.heartbeatTimeoutMs);
    if (!this.leaving) {
      this.refreshRing();
      for (const name of this.predecessors) {
        if (!this.armed.has(name)) continue;
        const m = this.table.get(name);
        if (!m || (m.state !== "alive" && m.state !== "suspect")) continue;
        if (!this.lastHeard.has(name)) this.lastHeard.set(name, now);
        const left = this.suspectTimeoutOf(name, now) - this.silenceOf(name, now);
        if (left <= 0) {
          if (this.suspectedByMe.get(name) !== m.incarnation) this.suspectAfterPendingIo(name, m.incarnation);
        } else if (now + left < next) next = now + left;
      }
    }
    this.schedule(Math.max(1, next - now), () => this.fdTick());
  }

  /** Re-checks the silence once queued packets have been read, then suspects. */
  private suspectAfterPendingIo(name: string, incarnation: number): void {
    const check = (): void => {
      if (this.closed || this.leaving) return;
      const m = this.table.get(name);
      // Already suspect (someone else said so first): our own suspicion is then a confirmation.
      if (!m || (m.state !== "alive" && m.state !== "suspect") || m.incarnation !== incarnation) return;
      if (this.suspectedByMe.get(name) === incarnation) return;
      const now = this.clock.now();
      if (this.silenceOf(name, now) >= this.suspectTimeoutOf(name, now)) this.raiseSuspicion(m);
    };
    if (this.clock.afterPendingIo) this.clock.afterPendingIo(check);
    else check();
  }

  private refreshRing(): void {
    if (!this.ringDirty) return;
    this.ringDirty = false;
    const live = this.live().map((m) => m.name);
    live.push(this.name);
    const r = ringNeighbours(this.name, live, this.config.heartbeatObservers);
    const before = new Set(this.predecessors);
    // Tell members we stop heartbeating (a newcomer now sits between us) so they do not read our
    // silence as a crash. If this is lost, they suspect us once and we refute.
    const stop = encodeMessage({ type: "heartbeat", incarnation: this.incarnation, stop: true });
    for (const s of this.successors)
      if (!r.successors.includes(s)) {
        const m = this.table.get(s);
        if (m && isLive(m.state)) this.sendTo(m.addr, [stop]);
      }
    this.successors = r.successors;
    this.predecessors = r.predecessors;
    for (const a of [...this.armed]) if (!r.predecessors.includes(a)) this.armed.delete(a);
    const now = this.clock.now();
    for (const p of r.predecessors) if (!before.has(p)) this.lastHeard.set(p, now);
  }

  private probeTick(): void {
    this.schedule(this.awareness.scale(this.config.probeIntervalMs), () => this.probeTick());
    if (this.leaving) return;
    const target = this.nextProbeTarget();
    if (target) this.probe(target);
  }

  private nextProbeTarget(): MemberRecord | undefined {
    for (let tries = 0; tries < 2; tries++) {
      while (this.probeIndex < this.probeOrder.length) {
        const m = this.table.get(this.probeOrder[this.probeIndex++] as string);
        if (m && m.name !== this.name && isLive(m.state)) return m;
      }
      this.probeOrder = this.rng.shuffle([...this.table.keys()].filter((n) => n !== this.name));
      this.probeIndex = 0;
    }
    return undefined;
  }

  private probe(target: MemberRecord): void {
    const seq = this.nextProbeSeq();
    const pending: PendingProbe = { target: target.name, acked: false, nacks: 0 };
    this.probes.set(seq, pending);
    this.sendTo(target.addr, [encodeMessage({ type: "ping", seq, target: target.name })]);
    const timeout = this.awareness.scale(this.config.probeTimeoutMs);
    this.schedule(timeout, () => {
      if (pending.acked) {
        this.probes.delete(seq);
        this.adjustHealth(-1, "probe-ok");
        return;
      }
      const helpers = this.rng.sample(
        [...this.table.values()].filter(
          (m) => m.name !== this.name && m.name !== target.name && m.state === "alive",
        ),
        this.config.indirectChecks,
      );
      const req = encodeMessage({ type: "ping-req", seq, target: target.name, targetAddr: target.addr });
      for (const h of helpers) this.sendTo(h.addr, [req]);
      this.schedule(timeout * 2, () => {
        this.probes.delete(seq);
        if (pending.acked) return;
        // Helpers that answered nack saw the target silent too (it is the target, not us); helpers that
        // said nothing point at us being the slow or cut-off one (Lifeguard, as memberlist applies it).
        this.adjustHealth(helpers.length > 0 ? helpers.length - pending.nacks : 1, "probe-failed");
        const cur = this.table.get(target.name);
        if (cur && cur.state === "alive" && this.suspectedByMe.get(cur.name) !== cur.incarnation)
          this.raiseSuspicion(cur);
      });
    });
  }

  private nextProbeSeq(): number {
    this.probeSeq = (this.probeSeq + 1) >>> 0 || 1;
    return this.probeSeq;
  }

  /**
   * Gossip rounds run only while something is queued: an idle cluster (the usual state) would otherwise wake
   * this thread every gossipIntervalMs for nothing, and each wake-up is a measurable share of a node's CPU.
   */
  private gossipSoon(): void {
    if (this.gossipPending || !this.running || this.closed) return;
    this.gossipPending = true;
    this.schedule(this.config.gossipIntervalMs, () => this.gossipTick());
  }

  private enqueueBroadcast(key: string, msg: Buffer, sent?: number): void {
    this.queue.enqueue(key, msg, sent);
    this.gossipSoon();
  }

  private gossipTick(): void {
    this.gossipPending = false;
    if (this.queue.length === 0) return;
    this.gossipSoon();
    for (const m of this.randomLive(this.config.gossipNodes)) this.sendTo(m.addr, [], "gossip");
  }

  private pushPullTick(): void {
    const n = this.liveCount();
    this.schedule(this.jitter(this.config.pushPullIntervalMs * pushPullScale(n)), () => this.pushPullTick());
    if (this.leaving) return;
    const [peer] = this.randomLive(1);
    if (peer) this.pushPull(peer.addr, true, false);
  }

  private reconnectTick(): void {
    this.schedule(this.jitter(this.config.reconnectIntervalMs), () => this.reconnectTick());
    if (this.leaving) return;
    const now = this.clock.now();
    const dead: MemberRecord[] = [];
    for (const m of this.table.values()) {
      if (m.state !== "dead" && m.state !== "left") continue;
      if (now - m.since > this.config.deadRetentionMs) {
        this.table.delete(m.name);
        this.lastHeard.delete(m.name);
        this.blindAtHeard.delete(m.name);
        this.gaps.delete(m.name);
        this.replay.forget(m.name);
        continue;
      }
      if (m.state === "dead") dead.push(m);
    }
    const pick = dead[this.rng.int(dead.length)];
    if (pick) this.pushPull(pick.addr, true, false, undefined, true);
    if (this.isAlone() && this.seeds.length > 0 && !this.joinTimer) this.attemptJoin();
    for (const [k, at] of this.answered) if (now - at > 60_000) this.answered.delete(k);
    for (const [k, at] of this.pokedAt) if (now - at > 60_000) this.pokedAt.delete(k);
  }

  private attemptJoin(): void {
    this.clock.clearTimer(this.joinTimer);
    this.joinTimer = undefined;
    if (this.closed || this.leaving || this.seeds.length === 0) return;
    if (!this.isAlone()) {
      this.joinBackoff = this.config.joinRetryInitialMs;
      return;
    }
    for (const s of this.seeds) this.pushPull(s, true, true);
    const wait = this.jitter(this.joinBackoff);
    this.joinBackoff = Math.min(this.config.joinRetryMaxMs, this.joinBackoff * 2);
    this.joinTimer = this.clock.setTimer(wait, () => {
      this.joinTimer = undefined;
      this.attemptJoin();
    });
  }

  // ------------------------------------------------------------------------------------------------------
  // Sending

  private self(): MemberRecord {
    return this.table.get(this.name) as MemberRecord;
  }

  private membershipChanged(): void {
    this.ringDirty = true;
    this.liveDirty = true;
  }

  private live(): MemberRecord[] {
    if (this.liveDirty) {
      this.liveDirty = false;
      this.liveRecords = [];
      for (const m of this.table.values())
        if (m.name !== this.name && isLive(m.state)) this.liveRecords.push(m);
    }
    return this.liveRecords;
  }

  /** Members alive or suspect, ourselves included. */
  private liveCount(): number {
    return this.live().length + 1;
  }

  private randomLive(k: number, exclude?: string): MemberRecord[] {
    const live = this.live();
    return this.rng.sample(exclude === undefined ? live : live.filter((m) => m.name !== exclude), k);
  }

  /**
   * Builds, seals and sends one packet: `primary` messages plus queued broadcasts that fit. `gossip`
   * marks a send to a randomly chosen member, the only kind that counts towards the retransmit limit.
   */
  private sendTo(
    addr: string,
    primary: readonly Buffer[],
    piggyback: "free" | "gossip" | "none" = "free",
  ): void {
    if (this.closed) return;
    const budget = this.config.maxPacketBytes - SEAL_OVERHEAD - (this.keyring ? 0 : 2 + this.label.length);
    let left = budget - headerSize(this.name);
    for (const m of primary) left -= m.length + MESSAGE_OVERHEAD;
    const limit = retransmitLimit(this.config.retransmitMult, this.liveCount());
    const extra =
      piggyback !== "none" && left > 16 && this.queue.length > 0
        ? this.queue.take(
            left,
            limit,
            piggyback === "gossip",
            MESSAGE_OVERHEAD,
            255 - primary.length,
            primary,
          )
        : [];
    const messages = extra.length ? [...primary, ...extra] : primary;
    if (messages.length === 0) return;
    if (this.seq >= 0xffffffff) {
      // Sequence space exhausted: a new epoch starts a fresh window at every receiver.
      this.epoch = Math.max(this.epoch + 1, Date.now());
      this.seq = 0;
    }
    const plain = encodePacket({ sender: this.name, epoch: this.epoch, seq: this.seq++ }, messages);
    const packet = this.keyring
      ? this.keyring.seal(plain, this.label)
      : Buffer.concat([Buffer.of(INSECURE_VERSION, this.label.length), this.label, plain]);
    this.statsData.packetsOut++;
    this.statsData.bytesOut += packet.length;
    for (const m of messages) {
      const t = MESSAGE_TYPES[m[0] as number];
      if (t) {
        this.statsData.messagesOut[t]++;
        this.statsData.messageBytesOut[t] += m.length;
      }
    }
    this.transport.send(addr, packet);
  }

  /**
   * Spreads fresh news: pushed at once to gossipNodes random members (everyone, when we originate it in a
   * small cluster), then queued for the rest of its retransmits and free rides.
   */
  private broadcast(key: string, msg: Buffer, originated: boolean): void {
    const n = this.liveCount();
    let pushed = 0;
    if (originated && n <= this.config.directBroadcastMax) {
      for (const m of this.table.values())
        if (m.name !== this.name && isLive(m.state)) this.sendTo(m.addr, [msg]);
      pushed = this.config.gossipNodes;
    } else {
      for (const m of this.randomLive(this.config.gossipNodes)) {
        this.sendTo(m.addr, [msg], "gossip");
        pushed++;
      }
    }
    this.enqueueBroadcast(key, msg, pushed);
  }

  private aliveMessage(m: MemberRecord): Buffer {
    const inline =
      m.metaEncoded && m.metaEncoded.length <= this.config.metadataInlineMaxBytes ? m.metaEncoded : undefined;
    return encodeMessage({
      type: "alive",
      name: m.name,
      addr: m.addr,
      incarnation: m.incarnation,
      metaDigest: m.metaDigest,
      ...(inline ? { meta: inline } : {}),
    });
  }

  /**
   * Our own alive (join, refute, metadata change) goes to every member we know, dead ones included: it is
   * rare, it is the one message whose loss matters most (a missed join or refute only heals at the next
   * push-pull), and a dead member may be across a partition that just healed.
   */
  private announceSelf(accuserAddr: string | undefined): void {
    const msg = this.aliveMessage(this.self());
    this.enqueueBroadcast(this.name, msg, this.config.gossipNodes);
    const sent = new Set<string>();
    for (const m of this.table.values())
      if (m.name !== this.name && m.state !== "left") {
        this.sendTo(m.addr, [msg]);
        sent.add(m.addr);
      }
    if (accuserAddr && !sent.has(accuserAddr)) this.sendTo(accuserAddr, [msg]);
  }

  /** `selfOnly`: a one-packet knock (reconnect attempts to dead members) that still asks for their state. */
  private pushPull(
    addr: string,
    wantReply: boolean,
    join: boolean,
    requestId?: number,
    selfOnly = false,
  ): void {
    const id = requestId ?? this.rng.nextUint32();
    const entries: PushPullEntry[] = (selfOnly ? [this.self()] : [...this.table.values()]).map((m) => ({
      name: m.name,
      addr: m.addr,
      incarnation: m.incarnation,
      state: m.state,
      metaDigest: m.metaDigest,
    }));
    const budget =
      this.config.maxPacketBytes -
      SEAL_OVERHEAD -
      (this.keyring ? 0 : 2 + this.label.length) -
      headerSize(this.name) -
      MESSAGE_OVERHEAD -
      16;
    const chunks: PushPullEntry[][] = [];
    let cur: PushPullEntry[] = [];
    let size = 0;
    for (const e of entries) {
      const s = entrySize(e);
      if (cur.length > 0 && size + s > budget) {
        chunks.push(cur);
        cur = [];
        size = 0;
      }
      cur.push(e);
      size += s;
    }
    if (cur.length > 0) chunks.push(cur);
    chunks.forEach((states, part) =>
      this.sendTo(
        addr,
        [
          encodeMessage({
            type: "push-pull",
            requestId: id,
            reply: wantReply,
            join,
            part,
            parts: chunks.length,
            states,
          }),
        ],
        "none",
      ),
    );
  }

  // ------------------------------------------------------------------------------------------------------
  // Receiving: never throws; every drop is counted by reason.

  /** Entry point for every datagram (public for the fuzz test). */
  receive(packet: Buffer, from: string): void {
    try {
      this.receiveUnsafe(packet, from);
    } catch {
      this.reject("internal");
    }
  }

  private reject(reason: RejectReason): void {
    this.statsData.rejected[reason]++;
  }

  private receiveUnsafe(packet: Buffer, from: string): void {
    if (this.closed) return;
    if (packet.length > this.config.maxPacketBytes) return this.reject("oversized");
    if (packet.length < 2) return this.reject("truncated");
    let plain: Buffer;
    if (this.keyring) {
      if (packet[0] === INSECURE_VERSION) return this.reject("plaintext");
      if (packet.length < SEAL_OVERHEAD + 1) return this.reject("truncated");
      const opened = this.keyring.open(packet, this.label);
      if (!opened) return this.reject("decrypt");
      plain = opened;
    } else {
      if (packet[0] !== INSECURE_VERSION) return this.reject("encrypted");
      const len = packet[1] as number;
      if (packet.length < 2 + len) return this.reject("truncated");
      if (!packet.subarray(2, 2 + len).equals(this.label)) return this.reject("label");
      plain = packet.subarray(2 + len);
    }
    let parsed: ReturnType<typeof decodePacketHeader>;
    try {
      parsed = decodePacketHeader(plain);
    } catch (e) {
      return this.reject(e instanceof CodecError && e.message === "truncated" ? "truncated" : "malformed");
    }
    const { header, bodyStart } = parsed;
    if (header.sender === this.name) return this.reject("self");
    let messages: Message[];
    const sizes: number[] = [];
    try {
      messages = decodePacketBody(plain, bodyStart, sizes);
    } catch (e) {
      return this.reject(e instanceof CodecError && e.message === "truncated" ? "truncated" : "malformed");
    }
    // Only a well-formed packet consumes its sequence number.
    const verdict = this.replay.check(header.sender, header.epoch, header.seq, this.clock.now());
    if (verdict !== "ok") return this.reject(verdict === "replay" ? "replay" : "stale-epoch");
    if (this.refused.has(header.sender)) return this.fromRefused(messages, header.sender, from);
    this.statsData.packetsIn++;
    this.statsData.bytesIn += packet.length;
    this.heard(header.sender, from);
    for (const [i, m] of messages.entries()) {
      this.statsData.messagesIn[m.type]++;
      this.statsData.messageBytesIn[m.type] += sizes[i] as number;
      if (this.closed) return;
      this.handle(m, header.sender, from);
    }
  }

  /** A refused member's packet: only its own alive news counts (it may have been upgraded). */
  private fromRefused(messages: readonly Message[], sender: string, from: string): void {
    this.reject("refused");
    for (const m of messages) {
      if (m.type === "alive" && m.name === sender) this.onAlive(m, sender, from);
      else if (m.type === "push-pull")
        for (const e of m.states) if (e.name === sender && e.state === "alive") this.onAlive(e, sender, from);
      if (!this.refused.has(sender)) return;
    }
  }

  /** Any authenticated packet proves the sender is alive right now. */
  private heard(sender: string, from: string): void {
    const now = this.clock.now();
    this.recordGap(sender, now);
    this.lastHeard.set(sender, now);
    this.blindAtHeard.set(sender, this.blindMs);
    const m = this.table.get(sender);
    // Someone we think dead is talking to us: sync state so it can refute (healed partition, restart).
    if (m && (m.state === "dead" || m.state === "left")) this.poke(sender, from);
  }

  /** Push-pull with a peer whose state we seem to have missed, at most once per interval per peer. */
  private poke(sender: string, from: string): void {
    const now = this.clock.now();
    const last = this.pokedAt.get(sender) ?? -Infinity;
    if (now - last < Math.max(250, this.config.reconnectIntervalMs / 2) || this.leaving) return;
    this.pokedAt.set(sender, now);
    this.pushPull(from, true, false);
  }

  private handle(m: Message, sender: string, from: string): void {
    switch (m.type) {
      case "ping":
        if (m.target === this.name) this.sendTo(from, [encodeMessage({ type: "ack", seq: m.seq })]);
        return;
      case "ping-req":
        return this.relayPing(m.seq, m.target, m.targetAddr, from);
      case "ack": {
        const p = this.probes.get(m.seq);
        if (p) {
          p.acked = true;
          p.onAck?.();
        }
        return;
      }
      case "nack": {
        const p = this.probes.get(m.seq);
        if (p) p.nacks++;
        return;
      }
      case "heartbeat": {
        // Only a heartbeat arms the watch: the sender has us among its successors.
        if (m.stop) this.armed.delete(sender);
        else if (this.predecessors.includes(sender)) this.armed.add(sender);
        // A sender we do not know, or at a newer incarnation than we hold, means we missed gossip:
        // sync with it rather than wait for the periodic push-pull.
        const known = this.table.get(sender);
        if (!known || (known.state !== "dead" && known.state !== "left" && m.incarnation > known.incarnation))
          this.poke(sender, from);
        return;
      }
      case "alive":
        return this.onAlive(m, sender, from);
      case "suspect":
        return this.onSuspect(m.name, m.incarnation, m.from, from);
      case "dead":
        return this.onDead(m.name, m.incarnation, m.from, sender, from);
      case "push-pull":
        return this.onPushPull(m, sender, from);
      case "meta-req":
        return this.onMetaRequest(m.name, m.digest, m.parts, from);
      case "meta-chunk":
        return this.onMetaChunk(m.name, m.digest, m.part, m.parts, m.data);
    }
  }

  private relayPing(origSeq: number, target: string, targetAddr: string, requester: string): void {
    const seq = this.nextProbeSeq();
    const p: PendingProbe = {
      target,
      acked: false,
      nacks: 0,
      onAck: () => this.sendTo(requester, [encodeMessage({ type: "ack", seq: origSeq })]),
    };
    this.probes.set(seq, p);
    this.sendTo(targetAddr, [encodeMessage({ type: "ping", seq, target })]);
    this.schedule(this.config.probeTimeoutMs, () => {
      this.probes.delete(seq);
      if (!p.acked) this.sendTo(requester, [encodeMessage({ type: "nack", seq: origSeq })]);
    });
  }

  // ------------------------------------------------------------------------------------------------------
  // State changes

  private raiseSuspicion(m: MemberRecord): void {
    this.suspectedByMe.set(m.name, m.incarnation);
    this.statsData.suspicionsRaised++;
    this.onSuspect(m.name, m.incarnation, this.name, undefined, true);
    // Buddy system: the suspect hears it directly and can refute at once (small clusters already got it).
    if (this.liveCount() > this.config.directBroadcastMax)
      this.sendTo(m.addr, [
        encodeMessage({ type: "suspect", name: m.name, incarnation: m.incarnation, from: this.name }),
      ]);
  }

  private adjustHealth(delta: number, cause: HealthCause): void {
    if (this.awareness.apply(delta)) this.emit("health", this.awareness.score, cause);
  }

  /** `accuser`: the member whose view of us was wrong (its name), `accuserAddr`: where to answer. */
  private refute(accusedIncarnation: number, accuser: string, accuserAddr: string | undefined): void {
    this.incarnation = Math.max(this.incarnation, accusedIncarnation) + 1;
    const self = this.self();
    self.incarnation = this.incarnation;
    this.statsData.refutes++;
    const now = this.clock.now();
    // An accusation our own measured stall explains (it ended within a failure timeout) is already
    // accounted for: that stall's silence is excluded from our verdicts. Counting it too ratcheted a
    // member paused once a second to the 8× multiplier.
    const explainedByOurStall = now - this.blindUntil <= this.config.failureTimeoutMs;
    if (
      !explainedByOurStall &&
      refuteCountsAgainstUs(this.table.get(accuser), now, this.config.staleAccusationMs)
    )
      this.adjustHealth(1, "refute");
    else this.statsData.staleRefutes++;
    this.announceSelf(accuserAddr);
  }

  private onAlive(
    m: { name: string; addr: string; incarnation: number; metaDigest: string; meta?: Buffer },
    relayer: string,
    from: string | undefined,
  ): void {
    const refusal = this.refused.get(m.name);
    if (refusal) {
      if (refusal.digest === m.metaDigest) return;
      this.refused.delete(m.name);
    }
    const cur = this.table.get(m.name);
    const isLocal = m.name === this.name;
    const d = decideAlive(
      cur,
      m.incarnation,
      isLocal,
      this.incarnation,
      m.metaDigest,
      this.self().metaDigest,
    );
    if (d === "ignore") return;
    if (d === "refute") return this.refute(m.incarnation, relayer, from);
    const now = this.clock.now();
    let rec: MemberRecord;
    if (!cur) {
      rec = {
        name: m.name,
        addr: m.addr,
        state: "alive",
        incarnation: m.incarnation,
        metaDigest: m.metaDigest,
        metaEncoded: undefined,
        meta: undefined,
        since: now,
      };
      this.table.set(m.name, rec);
    } else {
      rec = cur;
      this.cancelSuspicion(m.name);
      rec.addr = m.addr;
      rec.incarnation = m.incarnation;
      if (d === "rejoin") rec.returnedAt = now;
      if (rec.state !== "alive") rec.since = now;
      rec.state = "alive";
      if (rec.metaDigest !== m.metaDigest) {
        rec.metaDigest = m.metaDigest;
        rec.metaEncoded = undefined;
      }
    }
    this.suspectedByMe.delete(m.name);
    if (d === "new" || d === "rejoin") this.membershipChanged();
    const hadMeta = rec.metaEncoded !== undefined;
    if (!hadMeta) this.acceptMetadata(rec, m.meta, false);
    else if (d === "rejoin") this.renegotiate();
    // Refused on the versions its inline record carries: it never joined.
    if (this.table.get(m.name) !== rec) return;
    if (d === "new" || d === "rejoin") this.emit("join", view(rec));
    else if (d === "recover") this.emit("alive", view(rec));
    if (!hadMeta && rec.metaEncoded) this.emit("metadata", view(rec));
    else if (!rec.metaEncoded) this.fetchMetadata(rec, from);
    this.broadcast(m.name, this.aliveMessage(rec), false);
  }

  /** `local`: raised by our own detector now (not our earlier message echoing back). */
  private onSuspect(
    name: string,
    incarnation: number,
    accuser: string,
    from: string | undefined,
    local = false,
  ): void {
    const cur = this.table.get(name);
    const d = decideSuspect(cur, incarnation, name === this.name, this.incarnation);
    if (d === "ignore" || !cur) return;
    if (d === "refute") return this.refute(incarnation, accuser, from);
    const msg = encodeMessage({ type: "suspect", name, incarnation, from: accuser });
    if (d === "confirm") {
      const s = this.suspicions.get(name);
      const fresh = s ? s.confirm(accuser) : false;
      // Our own independent observation is what lets others' timers collapse: send it at once.
      if (local) this.broadcast(`${name}/suspect/${accuser}`, msg, true);
      else if (fresh) this.enqueueBroadcast(`${name}/suspect/${accuser}`, msg);
      return;
    }
    cur.state = "suspect";
    cur.incarnation = incarnation;
    cur.since = this.clock.now();
    const n = this.liveCount();
    const k = Math.max(0, Math.min(this.config.suspicionConfirmations, n - 2));
    const scale = suspicionScale(n);
    const s = new Suspicion(
      this.clock,
      accuser,
      k,
      this.config.suspicionMinMs * scale,
      this.config.suspicionMaxMs * scale,
      () => this.suspicionExpired(name, incarnation),
    );
    this.suspicions.set(name, s);
    this.emit("suspect", view(cur));
    this.broadcast(`${name}/suspect/${accuser}`, msg, local);
    if (!local) this.verifySuspicion(cur);
  }

  /**
   * Someone else suspects `m`. If we have not heard from it lately either, check for ourselves with a
   * direct ping: silence becomes an independent confirmation, which is what lets the Lifeguard timeout
   * collapse even when the suspicion came from a single prober rather than the heartbeat watchers.
   */
  private verifySuspicion(m: MemberRecord): void {
    const now = this.clock.now();
    if (this.silenceOf(m.name, now) < this.config.heartbeatTimeoutMs) return;
    const seq = this.nextProbeSeq();
    const pending: PendingProbe = { target: m.name, acked: false, nacks: 0 };
    this.probes.set(seq, pending);
    const incarnation = m.incarnation;
    this.sendTo(m.addr, [encodeMessage({ type: "ping", seq, target: m.name })]);
    this.schedule(this.awareness.scale(this.config.probeTimeoutMs), () => {
      this.probes.delete(seq);
      const cur = this.table.get(m.name);
      if (pending.acked || !cur || cur.state !== "suspect" || cur.incarnation !== incarnation) return;
      if (this.suspectedByMe.get(cur.name) !== incarnation) this.raiseSuspicion(cur);
    });
  }

  private suspicionExpired(name: string, incarnation: number): void {
    this.suspicions.delete(name);
    const verdict = (): void => {
      this.verdictRechecks.delete(name);
      if (this.closed) return;
      const cur = this.table.get(name);
      if (!cur || cur.state !== "suspect" || cur.incarnation !== incarnation) return;
      // Our own evidence must agree: a member we heard lately (counting only time our loop ran) is alive,
      // and so is one whose silence is no longer than the gaps it showed lately (gap-history.ts).
      const now = this.clock.now();
      const needed = Math.max(
        this.awareness.scale(this.config.failureTimeoutMs),
        this.verdictTimeoutOf(name, now),
      );
      const silence = this.silenceOf(name, now);
      if (silence < needed) {
        this.statsData.verdictsWithheld++;
        // It talks to us but has not refuted: its copy of the suspicion (or its refute) was lost.
        this.sendTo(cur.addr, [encodeMessage({ type: "suspect", name, incarnation, from: this.name })]);
        const wait = Math.max(1, Math.min(needed - silence, this.config.heartbeatTimeoutMs));
        const handle = this.clock.setTimer(wait, () => this.suspicionExpired(name, incarnation));
        this.verdictRechecks.set(name, handle);
        return;
      }
      this.statsData.deadDeclared++;
      this.onDead(name, incarnation, this.name, this.name, undefined);
    };
    if (this.clock.afterPendingIo) this.clock.afterPendingIo(verdict);
    else verdict();
  }

  private cancelSuspicion(name: string): void {
    this.clock.clearTimer(this.verdictRechecks.get(name));
    this.verdictRechecks.delete(name);
    const s = this.suspicions.get(name);
    if (s) {
      s.cancel();
      this.suspicions.delete(name);
    }
  }

  /** `accuser === name` is a leave; `relayer` is who told us (the one to blame if the claim is about us). */
  private onDead(
    name: string,
    incarnation: number,
    accuser: string,
    relayer: string,
    from: string | undefined,
  ): void {
    const cur = this.table.get(name);
    const d = decideDead(cur, incarnation, accuser, name === this.name, this.incarnation, this.leaving);
    if (d === "ignore" || !cur) return;
    if (d === "refute") return this.refute(incarnation, accuser === name ? relayer : accuser, from);
    this.cancelSuspicion(name);
    cur.state = d === "left" ? "left" : "dead";
    cur.incarnation = incarnation;
    cur.since = this.clock.now();
    this.membershipChanged();
    this.suspectedByMe.delete(name);
    this.armed.delete(name);
    this.gaps.delete(name);
    const f = this.metaFetches.get(name);
    if (f) {
      this.clock.clearTimer(f.timer);
      this.metaFetches.delete(name);
    }
    const heardAt = this.lastHeard.get(name);
    const silentForMs = heardAt === undefined ? undefined : Math.max(0, this.clock.now() - heardAt);
    this.emit(d === "left" ? "leave" : "dead", { ...view(cur), silentForMs });
    this.broadcast(
      name,
      encodeMessage({ type: "dead", name, incarnation, from: accuser }),
      accuser === this.name,
    );
    // The last member that needed an older version may just have gone.
    this.renegotiate();
  }

  private onPushPull(m: Extract<Message, { type: "push-pull" }>, sender: string, from: string): void {
    if (m.reply && !this.leaving) {
      const key = `${sender}/${m.requestId}`;
      if (!this.answered.has(key)) {
        this.answered.set(key, this.clock.now());
        this.pushPull(from, false, false, m.requestId);
      }
    }
    // `from` is passed as the accuser address: if the peer holds a wrong entry about us, the refutation goes
    // straight back to it (it may be across a partition that just healed, where gossip cannot reach yet).
    const wasAlone = this.isAlone();
    for (const e of m.states) {
      if (e.state === "alive") this.onAlive(e, sender, from);
      else if (e.state === "left") this.onDead(e.name, e.incarnation, e.name, sender, from);
      // A remote "dead" is only a suspicion here (memberlist does the same): we may still hear from it.
      else this.onSuspect(e.name, e.incarnation, sender, from);
    }
    // Just joined: introduce ourselves to everyone we learned of, rather than trusting the seed's gossip
    // alone to reach them all.
    if (wasAlone && !this.isAlone() && !this.leaving) this.announceSelf(undefined);
  }

  // ------------------------------------------------------------------------------------------------------
  // Metadata transfer

  /** Uses inline bytes if they match the digest; returns whether rec now holds its current record. */
  /** A record whose versions do not overlap ours refuses the member (then false; it left the table). */
  private acceptMetadata(rec: MemberRecord, encoded: Buffer | undefined, emit: boolean): boolean {
    const versionsBefore = rec.versions;
    if (rec.metaDigest === EMPTY_DIGEST) {
      rec.meta = EMPTY_METADATA;
      rec.metaEncoded = EMPTY_ENCODED;
      rec.versions = LEGACY_VERSIONS;
    } else {
      if (!encoded || metadataDigest(encoded) !== rec.metaDigest) return false;
      try {
        const record = this.versionsOnly
          ? { metadata: undefined, ...readRecordVersions(encoded) }
          : decodeRecord(encoded);
        rec.meta = record.metadata;
        rec.versions = record.versions ?? LEGACY_VERSIONS;
      } catch (e) {
        // A format we cannot read, from a member that told us its versions: refuse it by them.
        if (e instanceof MetadataFormatError && e.versions)
          this.refuse(rec, `its metadata is format ${e.format}, ${versionsText(e.versions)}`);
        return false;
      }
      rec.metaEncoded = encoded;
    }
    // Only a member's version ranges move the negotiation, and a newcomer whose ranges hold what we speak
    // cannot. Re-running it on every record (a pass over all live members) made a cluster's convergence
    // cost grow with the square of its size: at 250 members, 6.6 of the 18 s a simulated join took.
    const unmoved =
      rec.versions !== undefined &&
      (versionsBefore === undefined
        ? this.negotiatedOnce && holdsChosen(rec.versions, this.speaking)
        : negotiatesAlike(versionsBefore, rec.versions));
    if (!unmoved) this.renegotiate();
    if (this.table.get(rec.name) !== rec) return false;
    if (emit) this.emit("metadata", view(rec));
    return true;
  }

  private fetchMetadata(rec: MemberRecord, hint: string | undefined): void {
    const existing = this.metaFetches.get(rec.name);
    if (existing && existing.digest === rec.metaDigest) return;
    if (existing) this.clock.clearTimer(existing.timer);
    const f: MetaFetch = { digest: rec.metaDigest, parts: [], received: 0, retries: 0, timer: undefined };
    this.metaFetches.set(rec.name, f);
    this.requestMetadata(rec.name, f, hint);
  }

  private requestMetadata(name: string, f: MetaFetch, hint: string | undefined): void {
    const rec = this.table.get(name);
    if (!rec || rec.metaDigest !== f.digest || this.closed) {
      this.metaFetches.delete(name);
      return;
    }
    const missing: number[] = [];
    if (f.parts.length > 0)
      for (let i = 0; i < f.parts.length && missing.length < 500; i++) if (!f.parts[i]) missing.push(i);
    // The owner first; on retries alternate with a random member (any holder of the digest can answer).
    const alt = f.retries % 2 === 1 ? this.randomLive(1, name)[0]?.addr : undefined;
    const target = alt ?? (f.retries === 0 && hint ? hint : rec.addr);
    this.sendTo(target, [encodeMessage({ type: "meta-req", name, digest: f.digest, parts: missing })]);
    if (target !== rec.addr && f.retries === 0) {
      this.sendTo(rec.addr, [encodeMessage({ type: "meta-req", name, digest: f.digest, parts: missing })]);
    }
    f.timer = this.clock.setTimer(this.config.metadataRetryMs, () => {
      f.timer = undefined;
      if (this.metaFetches.get(name) !== f) return;
      if (++f.retries > this.config.metadataMaxRetries) {
        this.metaFetches.delete(name);
        return;
      }
      this.requestMetadata(name, f, undefined);
    });
  }

  private onMetaRequest(name: string, digest: string, wanted: number[], from: string): void {
    const rec = this.table.get(name);
    if (!rec || rec.metaDigest !== digest || !rec.metaEncoded) return;
    const size = METADATA_CHUNK_BYTES;
    const parts = Math.max(1, Math.ceil(rec.metaEncoded.length / size));
    if (parts > 0xffff) return;
    const list = wanted.length > 0 ? wanted.filter((p) => p < parts) : [...Array(parts).keys()];
    for (const part of list) {
      const data = rec.metaEncoded.subarray(part * size, (part + 1) * size);
      this.sendTo(from, [encodeMessage({ type: "meta-chunk", name, digest, part, parts, data })], "none");
    }
  }

  private onMetaChunk(name: string, digest: string, part: number, parts: number, data: Buffer): void {
    const f = this.metaFetches.get(name);
    if (!f || f.digest !== digest) return;
    if (f.parts.length === 0) f.parts = new Array<Buffer | undefined>(parts).fill(undefined);
    if (f.parts.length !== parts || f.parts[part]) return;
    f.parts[part] = data;
    f.received++;
    if (
      data.length > METADATA_CHUNK_BYTES ||
      parts * METADATA_CHUNK_BYTES > this.config.metadataMaxBytes + METADATA_CHUNK_BYTES
    ) {
      this.clock.clearTimer(f.timer);
      this.metaFetches.delete(name);
      return;
    }
    if (f.received < parts) return;
    this.clock.clearTimer(f.timer);
    this.metaFetches.delete(name);
    const rec = this.table.get(name);
    if (!rec || rec.metaDigest !== digest) return;
    this.acceptMetadata(rec, Buffer.concat(f.parts as Buffer[]), true);
  }
}

function view(m: MemberRecord): MemberView {
  return {
    name: m.name,
    addr: m.addr,
    state: m.state,
    incarnation: m.incarnation,
    metadata: m.meta,
    versions: m.versions,
    metadataDigest: m.metaDigest,
    since: m.since,
  };
}
