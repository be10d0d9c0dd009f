// The daemon's handle on the gossip thread (thread-main.ts): the Memberlist calls the daemon makes, with the
// member table mirrored from the thread's events, so reads stay synchronous and cheap.
import { EventEmitter } from "node:events";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { MemberlistEvents, MemberView } from "./memberlist";
import { decodeRecord, encodeMetadataThen, shareAllocation, type MemberMetadata } from "./metadata";
import { describeHelperScheduling, raiseHelperThreads, raiseMainThread } from "./priority";
import { newStats, type GossipStats } from "./stats";
import type { DetectionInForce, FromThread, GossipThreadOptions, ToThread } from "./thread-protocol";
import type { MemberVersions } from "./version";

/** A gossip thread booting before the daemon knows its options (ThreadedMemberlist.boot()). */
export interface GossipThreadBoot {
  readonly worker: Worker;
  /** How the process's helper threads were scheduled before the thread started. */
  readonly helpers: string;
}

export class ThreadedMemberlist extends EventEmitter<MemberlistEvents> {
  private readonly table = new Map<string, MemberView>();
  /**
   * Each member's last record, decoded here from the bytes the thread sends once per record. Kept when the
   * member leaves: the thread's view of it keeps its last record too, and sends no bytes again for it.
   */
  private readonly records = new Map<string, MemberMetadata>();
  /** Our record as last set, encoded again when the versions the thread speaks change. */
  private ownRecord: MemberMetadata | undefined;
  private lastStats: GossipStats = newStats();
  private leaveWaiters: Array<() => void> = [];
  private stopped = false;
  /** Records encoded so far: a deflate that finishes after a newer record was encoded is dropped. */
  private recordsEncoded = 0;
  /** A record waits for its encoding (sendOwnRecord). */
  private recordQueued = false;

  private constructor(
    private readonly worker: Worker,
    readonly name: string,
    readonly advertiseAddr: string,
    members: readonly MemberView[],
    /** The detection timings and thread scheduling in force. */
    readonly detection: DetectionInForce,
    /** The version vector our record is encoded with (the thread's, kept current by its "speaking" news). */
    private speaking: MemberVersions,
    /** The record the thread started with: ours until setMetadata. */
    initialRecord?: MemberMetadata,
  ) {
    super();
    this.ownRecord = initialRecord;
    for (const m of members) {
      this.table.set(m.name, m);
      if (m.metadata && m.name !== name) this.records.set(m.name, m.metadata);
    }
    worker.on("message", (message: FromThread) => this.onMessage(message));
  }

  /**
   * Starts a gossip thread ahead of its options: Node's worker bootstrap and the gossip modules load while
   * the main thread loads the config. At 1,000 VIPs on a busy 2-core host the thread took ~1.5 s to boot,
   * and the main thread waited for it idle after loading the config. start() hands it its options; until
   * then it keeps nothing alive (a daemon that fails to start still exits).
   */
  static boot(): GossipThreadBoot {
    // Before the thread exists: its garbage collections lean on the helper threads, and it starts from the
    // main thread's priority (priority.ts says why).
    const main = raiseMainThread();
    const helpers = describeHelperScheduling(raiseHelperThreads(), main);
    // The thread's garbage is small packets and timers: a small young generation keeps its RSS small.
    const worker = new Worker(join(__dirname, "thread-main.js"), {
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
    worker.unref();
    return { worker, helpers };
  }

  /** Starts the thread (or hands `boot`'s its options), which binds the gossip socket; resolves once it is listening. */
  static start(
    options: GossipThreadOptions,
    boot: GossipThreadBoot = ThreadedMemberlist.boot(),
  ): Promise<ThreadedMemberlist> {
    const { worker, helpers } = boot;
    worker.ref();
    worker.postMessage({ op: "init", options } satisfies ToThread);
    return new Promise((resolve, reject) => {
      const onExit = (code: number): void =>
        reject(new Error(`gossip thread exited (${code}) while starting`));
      worker.once("error", reject);
      worker.once("exit", onExit);
      const onFirst = (message: FromThread): void => {
        worker.off("message", onFirst);
        worker.off("error", reject);
        worker.off("exit", onExit);
        if (message.type === "ready")
          resolve(
            new ThreadedMemberlist(
              worker,
              options.name,
              message.advertiseAddr,
              message.members,
              { ...message.detection, helperScheduling: helpers },
              message.versions,
              options.metadata,
            ),
          );
        else
          reject(new Error(message.type === "failed" ? message.error : `gossip thread said ${message.type}`));
      };
      worker.on("message", onFirst);
    });
  }

  /** The thread is the failure detector: if it dies the daemon must not go on believing its view. */
  onFailure(handler: (reason: string) => void): void {
    this.worker.on("error", (error) => handler(`gossip thread failed: ${error.message}`));
    this.worker.on("exit", (code) => {
      if (!this.stopped) handler(`gossip thread exited (${code})`);
    });
  }

  start(): void {
    this.send({ op: "start" });
  }

  join(seeds: readonly string[]): void {
    this.send({ op: "join", seeds });
  }

  /** Encodes the record here and hands the thread the bytes (see thread-protocol's "setRecord"). */
  setMetadata(metadata: MemberMetadata): void {
    const self = this.table.get(this.name);
    if (self) this.table.set(this.name, { ...self, metadata });
    // The daemon builds a new {digest, entries} per record: the table changed when its entries did.
    const tableChanged = metadata.allocation?.entries !== this.ownRecord?.allocation?.entries;
    this.ownRecord = metadata;
    if (tableChanged) this.shareOwnTable(metadata);
    this.sendOwnRecord();
  }

  /** Peers' records decoded before our table settled get ours where theirs is equal (shareAllocation). */
  private shareOwnTable(own: MemberMetadata): void {
    for (const [name, record] of this.records) {
      const shared = shareAllocation(record, own);
      if (shared === record) continue;
      this.records.set(name, shared);
      const view = this.table.get(name);
      if (view?.metadata === record) this.table.set(name, { ...view, metadata: shared });
    }
  }

  /**
   * Encodes our record for the thread a timer turn and an immediate later, once for all the changes made
   * meanwhile. Why: at 10,000 VIPs the encoding is ~150 ms of this thread (a 1 MB JSON text and its bytes),
   * and the step that elects a reload's new VIP publishes a new record. Encoded in that step, it ran before
   * the new VIP's probe timer, due by then, could report the VIP free, and before the add that follows: a
   * timer is run after timers due earlier (the probe's), and the immediate after the immediates they queue
   * (the add). The first record goes out at once: peers see it with our first join.
   */
  private sendOwnRecord(): void {
    if (this.ownRecord === undefined) return;
    if (this.recordsEncoded === 0) return this.encodeOwnRecord();
    if (this.recordQueued) return;
    this.recordQueued = true;
    setTimeout(() => setImmediate(() => this.flushOwnRecord()), 0);
  }

  /** Encodes the record queued by sendOwnRecord now, if one is. */
  private flushOwnRecord(): void {
    if (!this.recordQueued) return;
    this.recordQueued = false;
    this.encodeOwnRecord();
  }

  private encodeOwnRecord(): void {
    if (this.ownRecord === undefined || this.stopped) return;
    const versions = this.speaking;
    // A large record is deflated off this thread (encodeMetadataThen): only the newest one goes out.
    const sequence = ++this.recordsEncoded;
    encodeMetadataThen(this.ownRecord, { format: versions.metadata.current, versions }, (encoded) => {
      if (sequence === this.recordsEncoded && !this.stopped)
        this.send({ op: "setRecord", encoded, versions });
    });
  }

  /** Replaces the keys in place: the first one sends, every one receives (rotation without restarts). */
  setKeys(keys: readonly string[]): void {
    this.send({ op: "setKeys", keys });
  }

  members(): MemberView[] {
    return [...this.table.values()];
  }

  member(name: string): MemberView | undefined {
    return this.table.get(name);
  }

  stats(): GossipStats {
    return this.lastStats;
  }

  /** Broadcasts our leave and waits for the thread to have spread it (bounded by the caller's stop timer). */
  leave(): Promise<void> {
    // Our last record before the leave, as before the leave.
    this.flushOwnRecord();
    return new Promise((resolve) => {
      this.leaveWaiters.push(resolve);
      this.send({ op: "leave" });
    });
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.send({ op: "stop" });
    this.worker.unref();
  }

  /**
   * Decodes a member's record here, the whole of it: the thread checked only its format and version vector
   * (readRecordVersions). A record malformed beyond those is refused here, and the member's last one stands.
   */
  private acceptRecord(name: string, bytes: Uint8Array): void {
    try {
      const encoded = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      this.records.set(
        name,
        decodeRecord(encoded, undefined, this.records.get(name), this.ownRecord).metadata,
      );
    } catch {
      // MetadataError: keep the previous record (the member stays, as with a record never fetched).
    }
  }

  private send(message: ToThread): void {
    if (!this.stopped || message.op === "stop") this.worker.postMessage(message);
  }

  private onMessage(message: FromThread): void {
    switch (message.type) {
      case "member": {
        const name = message.member.name;
        // Our own record is the one we set, not a decoded copy of it: the copy made at start-up (every VIP
        // "starting: not ready yet", the whole allocation table) stayed in `records` for good, ~3 MB at 10,000.
        const self = name === this.name;
        if (message.record && !self) this.acceptRecord(name, message.record);
        const member: MemberView = {
          ...message.member,
          metadata: self ? this.ownRecord : this.records.get(name),
        };
        this.table.set(name, member);
        this.emit(message.event, member);
        return;
      }
      case "refused": {
        const member: MemberView = { ...message.member, metadata: this.records.get(message.member.name) };
        this.table.delete(member.name);
        this.emit("refused", member, message.reason);
        return;
      }
      case "speaking":
        this.speaking = message.versions;
        this.sendOwnRecord();
        return;
      case "health":
        this.emit("health", message.score, message.cause);
        return;
      case "stats":
        this.lastStats = message.stats;
        return;
      case "left": {
        const waiters = this.leaveWaiters;
        this.leaveWaiters = [];
        for (const resolve of waiters) resolve();
        return;
      }
      default:
        return;
    }
  }
}
