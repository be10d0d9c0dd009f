// The daemon's handle on the gossip thread (thread-main.ts): the Memberlist calls the daemon makes, with the
// member table mirrored from the thread's events, so reads stay synchronous and cheap.
import { EventEmitter } from "node:events";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { MemberlistEvents, MemberView } from "./memberlist";
import type { MemberMetadata } from "./metadata";
import { describeHelperScheduling, raiseHelperThreads } from "./priority";
import { newStats, type GossipStats } from "./stats";
import type { DetectionInForce, FromThread, GossipThreadOptions, ToThread } from "./thread-protocol";

/** A gossip thread booting before the daemon knows its options (ThreadedMemberlist.boot()). */
export interface GossipThreadBoot {
  readonly worker: Worker;
  /** How the process's helper threads were scheduled before the thread started. */
  readonly helpers: string;
}

export class ThreadedMemberlist extends EventEmitter<MemberlistEvents> {
  private readonly table = new Map<string, MemberView>();
  private lastStats: GossipStats = newStats();
  private leaveWaiters: Array<() => void> = [];
  private stopped = false;

  private constructor(
    private readonly worker: Worker,
    readonly name: string,
    readonly advertiseAddr: string,
    members: readonly MemberView[],
    /** The detection timings and thread scheduling in force. */
    readonly detection: DetectionInForce,
  ) {
    super();
    for (const m of members) this.table.set(m.name, m);
    worker.on("message", (message: FromThread) => this.onMessage(message));
  }

  /**
   * Starts a gossip thread ahead of its options: Node's worker bootstrap and the gossip modules load while
   * the main thread loads the config. At 1,000 VIPs on a busy 2-core host the thread took ~1.5 s to boot,
   * and the main thread waited for it idle after loading the config. start() hands it its options; until
   * then it keeps nothing alive (a daemon that fails to start still exits).
   */
  static boot(): GossipThreadBoot {
    // Before the thread exists: its garbage collections lean on the helper threads (priority.ts says why).
    const helpers = describeHelperScheduling(raiseHelperThreads());
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
            new ThreadedMemberlist(worker, options.name, message.advertiseAddr, message.members, {
              ...message.detection,
              helperScheduling: helpers,
            }),
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

  setMetadata(metadata: MemberMetadata): void {
    const self = this.table.get(this.name);
    if (self) this.table.set(this.name, { ...self, metadata });
    this.send({ op: "setMetadata", metadata });
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

  private send(message: ToThread): void {
    if (!this.stopped || message.op === "stop") this.worker.postMessage(message);
  }

  private onMessage(message: FromThread): void {
    switch (message.type) {
      case "member":
        this.table.set(message.member.name, message.member);
        this.emit(message.event, message.member);
        return;
      case "refused":
        this.table.delete(message.member.name);
        this.emit("refused", message.member, message.reason);
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
