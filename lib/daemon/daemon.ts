// The daemon: lifecycle, reload and wiring. Every event (membership, interface, health, config, probe
// result) and a 1 s tick run the same level-triggered step: take a snapshot of what the edges observe, let
// the pure planner (lib/plan/planner.ts) decide, then apply the plan through the edges: the address applier
// (kernel addresses), the announcer (GARP/NA), the conflict monitor (probes), gossip metadata, metrics.
import type { Server } from "node:http";
import type { Settings } from "../config/settings";
import type { GossipProfileName } from "../gossip/config";
import type { Keyring } from "../gossip/keyring";
import type { MemberView } from "../gossip/memberlist";
import type { GossipThreadBoot, ThreadedMemberlist } from "../gossip/threaded";
import { HealthMonitor, type HealthEntry } from "../health/monitor";
import type { HealthState } from "../health/state";
import { AddressApplier, type ApplyResult } from "../net/address-applier";
import { Announcer } from "../net/announcer";
import type { ClaimOrigin } from "../net/arp-conflict";
import type { ConflictMonitor } from "../net/conflict-monitor";
import { EligibilityTracker } from "../net/eligibility";
import { KernelTransport } from "../net/kernel-transport";
import { NetlinkWatch } from "../net/netlink-watch";
import { VipAddresses } from "../net/vip-addresses";
import { ZERO_MAC } from "../net/wire";
import { localReport, STARTING_REASON, type LocalInputs } from "../plan/eligibility";
import { endFailover, newPlannerMemory, plan } from "../plan/planner";
import { peersKnown } from "../plan/readiness";
import type { MemberEvent, NodePolicy, Plan, Snapshot } from "../plan/types";
import { AllocationSync } from "./allocation-sync";
import { ConfigLoader, loadStartupConfig, retryReload } from "./config-loader";
import { ManifestWatch, POLL_MS } from "./manifest-watch";
import {
  advertisedInterfaces,
  advertisedInterfacesOf,
  nodePolicy,
  type ActiveConfig,
  type ReloadOutcome,
} from "./config-state";
import { ConflictBook } from "./conflict-book";
import { kernelConflictMonitor, ProbeRunner } from "./probe-runner";
import { readKeyring, reloadKeyring } from "./keyring-file";
import { startHttpServer } from "./http-server";
import { bootGossipThread, startGossip } from "./gossip-start";
import { EventLog, logAddressChanges } from "./event-log";
import { handleHeldClaim } from "./held-claim-handler";
import { localMacs, originOfMac } from "./mac-origin";
import { startMemoryTrim, TRIM_EVERY_MS, TRIM_SKIP_AFTER_BURST_MS, trimMallocNow } from "./memory-trim";
import { editedAdvertisedInterfaces, editFrom } from "./config-edit";
import type { Labels } from "../config/types";
import { ADDS_TAIL_MS, BURST_MS, processHeapMode, STARTUP_BURST_MIN_BYTES } from "./heap-mode";
import { manifestBytes } from "../config/load";
import { libc } from "../net/libc";
import { localHealthLogger, logMemberEvent } from "./member-log";
import type { Logger } from "./log";
import {
  buildMetadata,
  earliest,
  HELD_LIST_INTERVAL_MS,
  MetadataPublisher,
  type MetadataSource,
} from "./metadata-publisher";
import { createMetrics, type Metrics } from "./metrics";
import { loopReport, type ServiceNotifier } from "./sd-notify";
import { healthChangeEvent, ServiceHealth } from "./service-health";
import type { DaemonStatus } from "./status-types";
import { ownVersionOf, statusView } from "./status-view";
import { Telemetry } from "./telemetry";
import { StepPacer } from "./step-pacer";
import { Pulse } from "./pulse";
import { countTakenOver, DeferredStepWork } from "./takeover-first";
import { TrialRunner } from "./trial-runner";
import { interfaceForClearedProbe } from "./cleared-takeover";
import { earlyProbes } from "../plan/early-probes";

export interface DaemonOptions {
  readonly settings: Settings;
  readonly logger: Logger;
  readonly version: string;
  /** Source revision of this build (git commit), for vipd_build_info; "unknown" when not known. */
  readonly revision?: string;
  /** How long to wait for peers before serving alone (readiness). */
  readonly joinWaitMs?: number;
  readonly profile?: GossipProfileName;
  readonly insecure?: boolean;
  readonly clusterLabel?: string;
  /** systemd readiness and watchdog; the step loop feeds it. */
  readonly notifier?: ServiceNotifier;
  /** A gossip thread already booting (`vipd run` starts it before loading the daemon's code). */
  readonly gossipBoot?: GossipThreadBoot;
}

const TICK_MS = 1000;

export class Daemon {
  readonly metrics: Metrics = createMetrics();
  private readonly telemetry: Telemetry;
  private readonly settings: Settings;
  private readonly log: Logger;
  private readonly eventLog: EventLog;
  private readonly node: NodePolicy;
  private active!: ActiveConfig;
  private stale = false;
  private staleErrors: readonly string[] = [];
  private memberlist!: ThreadedMemberlist;
  private watch!: NetlinkWatch;
  private transport!: KernelTransport;
  private announcer!: Announcer;
  private eligibility!: EligibilityTracker;
  private applier!: AddressApplier;
  private conflictMonitor!: ConflictMonitor;
  private probes!: ProbeRunner;
  private http: Server | undefined;
  private readonly manifests: ManifestWatch;
  /** The main thread's periodic work on one timer: the tick, the conflict sockets, the manifests' check. */
  private readonly pulse = new Pulse();
  private stopMemoryTrim: (() => void) | undefined;
  /** The heap runs for speed during a reload or a takeover, for size otherwise (heap-mode.ts). */
  private readonly heapMode = processHeapMode((inBurst, cause) => {
    this.log.log(
      "debug",
      "heapMode",
      inBurst ? `heap for speed: ${cause}` : `heap for size again (${cause})`,
      { cause },
    );
    // The burst's end ran a full collection: what it freed goes back now, not a trim period later (the
    // periodic trim skips bursts).
    if (!inBurst && !this.stopping) trimMallocNow();
  });
  private readonly configLoader = new ConfigLoader();
  private reloading: Promise<void> | undefined;
  /** The trigger of a reload asked for while one was running. */
  private reloadAgain: string | undefined;
  /** Failed loads in a row retried because the files changed while they were read (retryReload). */
  private reloadRetries = 0;
  // Steps no decision waits on wait for a run of address changes in progress (see StepPacer).
  private readonly steps = new StepPacer(
    () => this.step(),
    undefined,
    () => this.applier?.passUnderWay(),
  );
  private readonly deferred = new DeferredStepWork();
  private ready = false;
  /** The manifests are large (STARTUP_BURST_MIN_BYTES): start-up's burst waits longer for the first adds. */
  private largeStartup = false;
  private stopping = false;
  private readonly startedAt = new Date();
  private lastLoopAt = Date.now();
  private readonly memory = newPlannerMemory();
  /** Membership events since the last step, for the planner. */
  private memberEvents: MemberEvent[] = [];
  private quorumReason: string | undefined;
  private readonly conflicts = new ConflictBook();
  private readonly health = new ServiceHealth(new HealthMonitor());
  private readonly publisher = new MetadataPublisher((meta) => this.memberlist.setMetadata(meta), {
    heldListIntervalMs: HELD_LIST_INTERVAL_MS,
  });
  /** Wanted addresses the kernel confirmed and whose takeover burst started (the planner's `placed`). */
  private readonly placed = new Set<string>();
  private readonly allocation: AllocationSync;
  private keyring: Keyring | undefined;
  /** This node's own eligibility inputs: observed links, probe-found conflicts, health, add failures. */
  private local!: LocalInputs;
  /** Trial adds of the VIPs this node gave up. */
  private trials!: TrialRunner;
  private plannedConfig: ActiveConfig | undefined; // the config the last plan ran on
  /** Why this node can hold none of its VIPs (it is not ready then), from the last plan. */
  private cannotHoldAny: string | undefined;

  constructor(private readonly options: DaemonOptions) {
    this.settings = options.settings;
    this.log = options.logger;
    this.eventLog = new EventLog(this.log);
    this.telemetry = new Telemetry(this.metrics, this.settings.nodeName);
    this.allocation = new AllocationSync(this.settings.stateDir, this.log, options.version);
    // Polled from the pulse (start()), with the conflict monitor's sockets: one wake-up for both.
    this.manifests = new ManifestWatch(this.settings.manifests, (trigger) => this.reload(trigger), 0);
    this.node = nodePolicy(this.settings);
  }

  get nodeName(): string {
    return this.settings.nodeName;
  }

  /** Loads the config (throws with every error on a bad one), then starts every edge and the loop. */
  async start(): Promise<void> {
    // Start-up (the load, the threads' boot, then every VIP taken) runs as a burst until its adds are done:
    // the process starts under V8's defaults and the heap is sized down once the work is (heap-mode.ts).
    this.largeStartup = manifestBytes(this.settings.manifests) >= STARTUP_BURST_MIN_BYTES;
    this.heapMode.burst("start-up");
    const gossipBoot = this.options.gossipBoot ?? bootGossipThread(); // it boots while the config loads
    const startup = loadStartupConfig(
      this.settings.manifests,
      this.settings.stateDir,
      this.options.version,
      this.log,
    );
    this.active = startup.active;
    this.allocation.loaded(this.active);
    this.telemetry.config(this.active, this.stale);
    this.allocation.logChanges(this.active, startup.previous);

    const keyring = readKeyring(this.settings.cluster.keyFile, this.options.insecure === true, this.log);
    this.keyring = keyring;
    this.eventLog.event("started", `vipd ${this.options.version} starting as "${this.nodeName}"`);
    this.watch = await NetlinkWatch.start();
    this.transport = new KernelTransport();
    // Repeat rounds wait for the run of address changes (a takeover's adds): see AnnouncerOptions.busyWork.
    this.announcer = new Announcer(this.transport, {}, undefined, {
      countPerIp: false,
      busyWork: () => this.applier?.passUnderWay(),
    });
    this.conflictMonitor = kernelConflictMonitor(this.settings.cluster.arpProbeMs);
    this.conflictMonitor.onClaim((claim) =>
      handleHeldClaim(claim, {
        stopping: () => this.stopping,
        held: () => this.applier.wanted(),
        ready: () => this.ready,
        memberState: (name) => this.memberlist.member(name)?.state,
        electionIpOf: (ip) => this.active.groupByIp.get(ip)?.electionIp,
        originOf: (mac) => this.originOf(mac),
        memory: this.memory,
        conflicts: this.conflicts,
        log: this.log,
        conflictCounted: (ip) => this.telemetry.addressConflict(ip),
        planEvent: (event) => this.eventLog.fromPlan(event),
        reannounce: (ips, why) => this.reannounce(ips, why),
        scheduleStep: () => this.scheduleStep(),
      }),
    );
    this.probes = new ProbeRunner({
      monitor: this.conflictMonitor,
      book: this.conflicts,
      log: this.log,
      reprobeMs: this.settings.cluster.conflictReprobeMs,
      interfacesFor: (names) => this.watch.announceInterfaces(names),
      originOf: (mac) => this.originOf(mac),
      electionIpOf: (ip) => this.active.groupByIp.get(ip)?.electionIp,
      conflictCounted: (ip) => this.telemetry.addressConflict(ip),
      event: (reason, message, fields, ip) => this.eventLog.event(reason, message, fields, undefined, ip),
      stepSoon: () => this.scheduleStep(true),
      stopping: () => this.stopping,
      cleared: (ip) => this.takeCleared(ip),
    });
    this.eligibility = new EligibilityTracker(this.watch);
    this.local = {
      links: this.eligibility,
      conflicts: this.conflicts,
      health: this.health,
      hold: this.memory.hold,
    };
    this.eligibility.onChange(() => this.scheduleStep());
    this.applier = new AddressApplier(this.watch, new VipAddresses(this.watch.requestSocket), (result) =>
      this.onAddressesApplied(result),
    );
    this.trials = new TrialRunner(this.applier, this.log, () => this.scheduleStep());
    // vipd_announced follows what the kernel holds at each scrape.
    this.telemetry.announcedFrom(() => ({
      active: this.active,
      intended: this.applier.wanted(),
      observed: (ip) => this.applier.observed(ip),
    }));
    this.trackVips();
    this.health.monitor.onChange((entry, previous) => this.onHealthChange(entry, previous));
    this.syncHealthChecks();
    // Peers should learn this node's real health with its first metadata, not a "pending" that flips.
    const longest = Math.max(0, ...this.health.monitor.entries().map((e) => e.spec.timeoutMs));
    await this.health.monitor.firstRound(longest + 200);
    // The first pass with an empty wanted set removes stale marked addresses left by a crash, before this
    // node is a member: while its kernel still answers ARP for them, peers' probes would find a "foreign"
    // device with a MAC they cannot yet tie to a member.
    await this.applier.setWanted(new Map());
    const logHealth = localHealthLogger(this.log);
    this.memberlist = await startGossip(
      {
        settings: this.settings,
        build: this.options.version,
        profile: this.options.profile,
        clusterLabel: this.options.clusterLabel,
        keys: keyring?.list(),
        metadata: buildMetadata(this.metadataSource()),
      },
      {
        member: (event, member) => this.onMemberEvent(event, member),
        refused: (member, reason) => {
          this.eventLog.event("memberRefused", reason, { member: member.name });
          this.scheduleStep();
        },
        health: (score, cause) => {
          this.telemetry.localHealth(score);
          logHealth(score, cause);
        },
        failed: (reason) => {
          this.log.log("critical", "gossipFailed", `${reason}; exiting so the service manager restarts vipd`);
          process.exit(1);
        },
      },
      gossipBoot,
    );
    const joinWait = this.settings.cluster.join.length === 0 ? 0 : (this.options.joinWaitMs ?? 3000);
    setTimeout(() => this.markReady("gave up waiting for peers"), joinWait).unref();
    this.http = await startHttpServer(this.settings.metrics.listen, {
      registry: this.metrics.registry,
      status: () => this.status(),
      healthy: () => Date.now() - this.lastLoopAt < 5 * TICK_MS,
      ready: () => this.isReady(),
    });
    this.manifests.start();
    // Frames received on the conflict sockets and the manifests' signature, every POLL_MS (see pulse.ts).
    this.pulse.every(POLL_MS, () => {
      this.conflictMonitor.readPending();
      this.manifests.poll();
    });
    // The watchdog is fed by the loop, so the loop must run at least at the watchdog's pace.
    this.pulse.every(Math.min(TICK_MS, this.options.notifier?.watchdogPaceMs ?? TICK_MS), () => {
      // A safety net under the watcher: a change it missed is still picked up within a tick.
      if (this.manifests.changedOnDisk()) this.reload("manifest changed on disk");
      this.scheduleStep();
    });
    this.pulse.start();
    this.scheduleStep();
    this.stopMemoryTrim = startMemoryTrim(
      () => libc().mallocTrim(),
      TRIM_EVERY_MS,
      () => this.heapMode.burstWithin(TRIM_SKIP_AFTER_BURST_MS),
    );
  }

  /**
   * Re-reads the manifests (off the main thread). A failure keeps the config in force and marks it stale.
   * Reloads asked for while one runs are folded into one more run after it, so the newest files win.
   */
  reload(trigger: string): void {
    if (this.stopping) return;
    const keyFile = this.settings.cluster.keyFile;
    if (trigger === "SIGHUP") reloadKeyring(this.keyring, keyFile, this.memberlist, this.log, this.eventLog);
    this.manifests.markRead();
    // The load, the election after it and the peers' new tables: a burst (heap-mode.ts).
    this.heapMode.burst(`reload (${trigger})`);
    if (this.reloading) {
      this.log.log("debug", "reloadQueued", `${trigger}: a reload is running; another follows it`);
      this.reloadAgain = trigger;
      return;
    }
    this.log.log("debug", "reloadStarted", `${trigger}: loading ${this.settings.manifests.join(", ")}`);
    this.reloading = this.configLoader
      .load(this.settings.manifests, this.active)
      .then((outcome) => this.applyReload(outcome, trigger))
      .finally(() => {
        this.reloading = undefined;
        const again = this.reloadAgain;
        this.reloadAgain = undefined;
        if (again !== undefined) this.reload(again);
      });
  }

  /** Settles once no reload is running (the SIGHUP handler tells systemd RELOADING is over then). */
  async reloadSettled(): Promise<void> {
    while (this.reloading) await this.reloading;
  }

  /** The config trackVips last gave the tracker, and what it gave (see trackVips). */
  private trackedVips:
    | {
        readonly active: ActiveConfig;
        readonly labels: Labels;
        readonly vips: Map<string, readonly string[]>;
      }
    | undefined;

  private applyReload(outcome: ReloadOutcome, trigger: string): void {
    if (this.stopping) return;
    if (retryReload(outcome, this.manifests.changedOnDisk(), this.reloadRetries)) {
      this.reloadRetries++;
      const why = outcome.ok ? "" : outcome.errors[0];
      this.log.log("debug", "reloadRetried", `${trigger}: the files changed while they were read (${why})`);
      this.manifests.poll(); // loads again once they are quiet
      return;
    }
    this.reloadRetries = 0;
    if (!outcome.ok) {
      this.stale = true;
      this.staleErrors = outcome.errors;
      this.telemetry.stale();
      for (const e of outcome.errors) this.log.log("error", "configInvalid", e, { trigger });
      this.eventLog.event(
        "configInvalid",
        `reload (${trigger}) rejected, keeping the last good config: ${outcome.errors[0]}`,
      );
      return;
    }
    const changed = outcome.active.load.digest !== this.active.load.digest || this.stale;
    const before = this.active.allocation;
    const vipsBefore = this.active.groupByIp;
    this.active = outcome.active;
    // The new VIPs' probes first: they run during the rest of this and the election step (early-probes.ts).
    const active = this.active;
    const early = earlyProbes({
      probeBeforeTakeover: this.node.probeBeforeTakeover,
      electing: this.ready && this.memory.quorumOk && !this.stopping,
      before: vipsBefore,
      after: active.groupByIp,
      held: this.applier.wanted(),
      links: {
        choice: (ip) => {
          const group = active.groupByIp.get(ip);
          const advertised = group ? advertisedInterfacesOf(active, this.settings.labels, group) : [];
          return this.eligibility.preview(ip, advertised);
        },
      },
    });
    for (const probe of early) this.probes.start(probe.ip, probe.interfaces, "early");
    this.allocation.loaded(this.active);
    this.stale = false;
    this.staleErrors = [];
    this.telemetry.config(this.active, this.stale);
    if (changed) {
      const timing = { noticedMs: `${this.manifests.noticedAfterMs}`, ...this.configLoader.lastLoad };
      const digest = this.active.load.digest.slice(0, 12);
      this.eventLog.event("configLoaded", `config reloaded (${trigger}), digest ${digest}`, timing);
    }
    this.trackVips();
    this.syncHealthChecks();
    this.steps.runNow(); // the new VIPs' election, ahead of what queued while the config loaded
    if (changed) this.allocation.logChanges(this.active, before.state, before.assignments); // after it
  }

  /** Graceful stop: peers take over while this node still holds its addresses, then they go. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.options.notifier?.stopping();
    this.eventLog.event("stopping", "leaving the cluster");
    this.pulse.stop();
    this.stopMemoryTrim?.();
    this.heapMode.close();
    this.steps.stop();
    this.deferred.cancel();
    this.configLoader.close();
    await this.manifests.close();
    // No frame from us after the new owner's first announcement.
    this.announcer.stop();
    await this.memberlist.leave();
    this.health.monitor.close();
    await Promise.all([this.applier.releaseAll(), this.allocation.flush()]);
    // Closing a packet socket waits for an RCU grace period (~10 ms): only after peers have taken over.
    this.conflictMonitor.close();
    this.memberlist.stop();
    this.eligibility.close();
    this.watch.close();
    this.transport.close();
    await new Promise<void>((resolve) => (this.http ? this.http.close(() => resolve()) : resolve()));
  }

  status(): DaemonStatus {
    const gossipStats = this.memberlist.stats();
    return statusView({
      node: this.nodeName,
      ownVersion: ownVersionOf(this.options.version, gossipStats),
      version: this.options.version,
      startedAt: this.startedAt,
      ready: this.isReady(),
      notReadyReason: this.ready ? this.cannotHoldAny : undefined,
      now: performance.now(),
      intended: this.applier.wanted(),
      addresses: this.applier,
      hold: this.memory.hold,
      notTakenReason: (ip) => localReport(this.local, ip).reason ?? "probing for conflicts",
      stale: this.stale,
      staleErrors: this.staleErrors,
      active: this.active,
      members: this.memberlist.members(),
      verdictTimeoutsMs: gossipStats.verdictTimeoutsMs ?? {},
      memory: this.memory,
      quorumReason: this.quorumReason,
      conflicts: this.conflicts,
      health: this.health.monitor.entries(),
      detection: this.memberlist.detection,
      events: this.eventLog.recent(),
      interfaceOf: (owner, ip) =>
        owner === this.nodeName
          ? (localReport(this.local, ip).interface ?? null)
          : (this.memberlist.member(owner)?.metadata?.eligibility.interfaces?.[ip] ?? null),
    });
  }

  // ---- the step: snapshot, plan, apply ---------------------------------------------------------

  private scheduleStep(urgent = false /* a decision waits on this input: see StepPacer */): void {
    if (!this.stopping) this.steps.request(urgent);
  }

  private step(): void {
    // Health results can arrive while start() is still bringing up the gossip layer.
    if (this.memberlist === undefined) return;
    this.lastLoopAt = Date.now();
    this.deferred.flush();
    this.adoptPeerAllocations();
    this.conflicts.forgetUnconfigured(this.active.groupByIp);
    const members = this.memberlist.members();
    const memberEvents = this.memberEvents;
    this.memberEvents = [];
    const snapshot: Snapshot = {
      now: performance.now(),
      wallTime: Date.now(),
      node: this.node,
      config: this.active,
      members,
      memberEvents,
      links: this.eligibility,
      health: this.health,
      conflicts: this.conflicts,
      held: this.applier.wanted(),
      placed: this.placed,
      ready: this.ready,
      addresses: this.applier,
      trialResults: this.trials.take(),
    };
    const decided = plan(snapshot, this.memory);
    this.plannedConfig = this.active;
    for (const ip of this.placed) if (!decided.addresses.has(ip)) this.placed.delete(ip);
    const takenOver = countTakenOver(decided.addresses, this.applier.wanted());
    if (takenOver === 0) {
      this.apply(decided, snapshot, members);
      this.steps.at(earliest(decided.nextPassAt, this.publisher.dueAt));
      void this.applier.setWanted(decided.addresses);
      return;
    }
    this.logTakeover(takenOver, memberEvents);
    // Withdrawals are cheap and must not wait for the adds with the rest (takeover-first.ts).
    for (const ip of decided.withdrawals) this.announcer.withdraw(ip);
    for (const ip of decided.silenced) this.announcer.withdraw(ip);
    // Before the adds: the answer to our announcement (a 0.1.0 holder's counter-announcement) can arrive
    // within a millisecond of it, before the deferred rest of this step would start watching.
    this.conflictMonitor.watch(decided.watched);
    const applying = this.applier.setWanted(decided.addresses);
    this.deferred.defer(() => {
      this.apply(decided, snapshot, members);
      this.steps.followUp(earliest(decided.nextPassAt, this.publisher.dueAt), applying);
    }, applying);
  }

  /**
   * One line when a step hands the applier VIPs to add, as it does: the moment of the decision. The per-VIP
   * `nodeAssigned` lines come with the step's deferred rest, after the adds (takeover-first.ts), so they
   * date the decision late (by ~0.5 s in a 10,000-VIP crash); the scale bench's crash trace reads this one.
   */
  private logTakeover(count: number, events: readonly MemberEvent[]): void {
    const gone = [
      ...new Set(events.filter((e) => e.kind === "dead" || e.kind === "leave").map((e) => e.member)),
    ];
    const after = gone.length > 0 ? ` after ${gone.join(", ")} left the cluster` : "";
    this.log.log("info", "takeover", `adding ${count} VIP${count === 1 ? "" : "s"}${after}`, { count });
  }

  /** All but the addresses (the applier gets them after, or, in a takeover, a turn before: takeover-first.ts). */
  private apply(decided: Plan, snapshot: Snapshot, members: readonly MemberView[]): void {
    this.telemetry.quorum(decided.quorum.ok);
    this.quorumReason = decided.quorum.reason;
    for (const change of decided.ownerChanges)
      if (change.from !== undefined || change.to !== undefined) this.telemetry.ownerChanged(change.group);
    for (const e of decided.events) this.eventLog.fromPlan(e);
    for (const probe of decided.probes) this.probes.start(probe.ip, probe.interfaces);
    this.conflicts.forgetHeld(decided.addresses, snapshot.now);
    this.conflictMonitor.watch(decided.watched);
    this.publisher.update(this.metadataSource(decided), snapshot.now);
    // After this step's adds, which leave in the microtasks right after it: re-announcing hundreds of held
    // VIPs is ~100 ms of sends (a crash whose step also saw a member come back waited 180 ms behind them).
    if (decided.announcements.length > 0)
      setImmediate(() => decided.announcements.forEach((a) => this.reannounce(a.ips, a.cause, a.routine)));
    for (const ip of decided.withdrawals) this.announcer.withdraw(ip);
    for (const ip of decided.silenced) this.announcer.withdraw(ip);
    this.cannotHoldAny = decided.cannotHoldAny;
    this.telemetry.divergences(this.applier.divergences());
    this.trials.run(decided.trials);
    const stats = this.memberlist.stats();
    this.telemetry.members(members, this.active.load.digest, stats, this.announcer.summary());
    this.options.notifier?.loop(loopReport(this.ready, decided.addresses.size, this.active.groups, members));
  }

  /** Ready once joined (or alone), unless this node can hold none of its VIPs (e.g. adds fail with EPERM). */
  private isReady(): boolean {
    return this.ready && this.cannotHoldAny === undefined;
  }

  private metadataSource(decided?: Plan): MetadataSource {
    return {
      labels: this.settings.labels,
      manifestDigest: this.active.load.digest,
      groups: this.active.groups,
      local: this.local,
      allocation: { digest: this.allocation.digest, entries: this.allocation.entries },
      owned: decided?.owned ?? this.memory.ownedGroups,
      released: decided?.released ?? [],
      // Before the first pass (the record the gossip layer starts with): not ready, so "starting".
      withheld: decided?.withheld ?? { all: STARTING_REASON, ips: new Map() },
      macs: [...localMacs(this.watch.snapshot().links)].filter((mac) => mac !== ZERO_MAC).sort(),
    };
  }

  /** Announces again IPs this node (still) holds, on the interfaces it would choose now. */
  private reannounce(asked: readonly string[], why: string, routine = false): void {
    const held = this.applier.wanted();
    const ips = asked.filter((ip) => held.has(ip));
    for (const ip of ips) {
      const choice = this.eligibility.choice(ip);
      this.announcer.announce(
        ip,
        this.watch.announceInterfaces(choice?.eligible ? choice.interfaces : [held.get(ip) ?? ""]),
        routine,
      );
    }
    if (ips.length > 0) this.log.log("info", "reannounce", `${ips.join(",")}: ${why}`, { ip: ips.join(",") });
  }

  /** A clean probe of a VIP the last plan elected this node for: its add goes out now (cleared-takeover.ts). */
  private takeCleared(ip: string): void {
    const [wanted, electionIp] = [this.applier.wanted(), this.active.groupByIp.get(ip)?.electionIp];
    const changedSincePlan =
      this.memberEvents.length > 0 || this.plannedConfig !== this.active || this.stopping;
    const [self, probing] = [this.nodeName, this.conflicts.probingCount];
    const facts = { self, electionIp, memory: this.memory, changedSincePlan, wanted, probing };
    const ifname = interfaceForClearedProbe(ip, { ...facts, local: localReport(this.local, ip) });
    if (ifname !== undefined) void this.applier.setWanted(new Map(wanted).set(ip, ifname));
  }

  private originOf(mac: string): ClaimOrigin {
    return originOfMac(mac, this.watch.snapshot().links, this.memberlist.members(), this.nodeName);
  }

  // ---- edges reporting back --------------------------------------------------------------------

  private onAddressesApplied(result: ApplyResult): void {
    // Start-up's or a takeover's adds extend its burst to ADDS_TAIL_MS after the last of them (the
    // run's batches come every few ms): a 10,000-VIP IPv6 start-up's burst ran 4 s past its last add, and the
    // scale bench's steady window (4 s after all were held) caught one node before the burst's collection.
    if (result.added.length > 0 && this.heapMode.inBurst)
      this.heapMode.burst("addresses added", ADDS_TAIL_MS);
    for (const added of result.added) {
      if (added.repaired) this.telemetry.addressDeleted();
      const choice = this.eligibility.choice(added.ip);
      if (!choice?.eligible || this.stopping) continue;
      // The takeover burst: the one announcement that follows the kernel, not the plan.
      this.announcer.announce(added.ip, this.watch.announceInterfaces(choice.interfaces));
      // Now the group may be claimed in gossip (and a holder handing it over lets go): a pass says so.
      this.placed.add(added.ip);
      this.steps.requestAfter(this.applier.settled());
      const group = this.active.groupByIp.get(added.ip);
      const failedAt = group ? endFailover(this.memory, group.electionIp) : undefined;
      if (failedAt !== undefined) this.telemetry.failover((performance.now() - failedAt) / 1000);
    }
    for (const removed of result.removed) this.placed.delete(removed.ip);
    logAddressChanges(this.log, result);
    if (result.failed.length > 0) {
      this.telemetry.divergences(this.applier.divergences());
      // The planner counts failed adds: a VIP that keeps failing here is handed on without waiting for a tick.
      this.scheduleStep();
    }
  }

  private onMemberEvent(event: MemberEvent["kind"], member: MemberView): void {
    if (member.name === this.nodeName) return;
    const at = logMemberEvent(this.log, this.eventLog, event, member, performance.now());
    this.memberEvents.push({ kind: event, member: member.name, at });
    const departed = event === "dead" || event === "leave";
    // A death or departure is a takeover; a member (re)joining a running node, a hand-back: bursts
    // (heap-mode.ts). The joins of a start-up are not: the heap start-up builds is the steady one.
    if (departed || (this.ready && (event === "join" || event === "alive")))
      this.heapMode.burst(`${member.name} ${event}`);
    if (!this.ready && peersKnown(this.memberlist.members(), this.nodeName, this.node.quorum.expect))
      this.markReady("joined the cluster");
    this.scheduleStep(departed);
  }

  private markReady(why: string): void {
    if (this.ready || this.stopping) return;
    this.ready = true;
    // The VIPs are taken next; each add extends the burst by ADDS_TAIL_MS. A large config's first step and
    // probes take longer than that before the first add.
    this.heapMode.burst("ready: taking the VIPs", this.largeStartup ? BURST_MS : 2 * ADDS_TAIL_MS);
    this.eventLog.event("ready", why);
    this.scheduleStep();
  }

  // ---- health ----------------------------------------------------------------------------------

  private syncHealthChecks(): void {
    this.health.setConfig(this.active.config, this.active.groups);
    this.telemetry.healthChecks(this.health.monitor.entries());
  }

  private onHealthChange(entry: HealthEntry, previous: HealthState): void {
    this.telemetry.healthCheck(entry);
    const news = healthChangeEvent(entry, previous);
    if (news) this.eventLog.fromPlan(news);
    this.scheduleStep();
  }

  // ---- config ----------------------------------------------------------------------------------

  /**
   * Tells the tracker which VIPs to follow, with the interfaces the ads that select this node name. A config
   * made by an edit of the one tracked (config-edit.ts) patches the map: the VIPs it left alone follow the
   * same advertisements, and rebuilding and comparing 10,000 entries stood between a reload's load and the
   * new VIP's election.
   */
  private trackVips(): void {
    const labels = this.settings.labels;
    const tracked = this.trackedVips;
    const edit = tracked?.labels === labels ? editFrom(this.active, tracked.active) : undefined;
    if (tracked === undefined || edit === undefined) {
      const vips = advertisedInterfaces(this.active, labels);
      this.trackedVips = { active: this.active, labels, vips };
      this.eligibility.setVips(vips);
      return;
    }
    const patched = editedAdvertisedInterfaces(tracked.vips, this.active, labels, edit);
    this.trackedVips = { active: this.active, labels, vips: patched.vips };
    this.eligibility.setVips(patched.vips, patched);
  }

  /** Allocation agreement: adopt the cluster's table when a live peer's differs (see AllocationSync). */
  private adoptPeerAllocations(): void {
    const members = this.memberlist.members();
    const adopted = this.allocation.adoptPeers(this.active, this.nodeName, members, !this.heapMode.inBurst);
    if (!adopted) return;
    this.active = adopted.active;
    if (adopted.mergedWith.length === 0) return;
    this.telemetry.config(this.active, this.stale);
    this.trackVips();
    this.syncHealthChecks();
    this.eventLog.event(
      "allocationMerged",
      `adopted the cluster's allocation (merged with ${adopted.mergedWith.join(", ")})`,
    );
  }
}
