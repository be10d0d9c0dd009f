// The daemon: wires config, membership, election and node networking together. Every event (membership,
// interface, config) and a 1 s tick run the same level-triggered reconcile: compute who should own each VIP
// from the current view, then make the kernel match. Decisions live in the pure modules; this file only
// moves data between them and the I/O edges.
import { watch as watchFiles, type FSWatcher } from "chokidar";
import { readFileSync, statSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { allocationDigest, entriesFor, mergeAllocations, type AllocationEntry } from "../alloc/agreement";
import { readAllocationState, writeAllocationState } from "../alloc/state-file";
import { expandPaths, loadManifests } from "../config/load";
import type { Settings } from "../config/settings";
import {
  electOwner,
  planGroup,
  selectsNode,
  type EligibilityLookup,
  type EligibilityReport,
  type EligibilityView,
  type ElectionResult,
  type MemberInfo,
  type VipGroup,
} from "../election/election";
import { quorumOf, type QuorumVerdict } from "../election/quorum";
import type { GossipProfileName } from "../gossip/config";
import { INSECURE_WARNING, NO_KEY_MESSAGE, parseKeyring, type Keyring } from "../gossip/keyring";
import type { MemberView } from "../gossip/memberlist";
import { ThreadedMemberlist } from "../gossip/threaded";
import { HealthMonitor, type HealthEntry } from "../health/monitor";
import type { HealthCheckSpec } from "../health/spec";
import type { HealthState } from "../health/state";
import type { MemberMetadata } from "../gossip/metadata";
import { METADATA_RANGE, PROTOCOL_RANGE } from "../gossip/version";
import type { GossipStats } from "../gossip/stats";
import { Announcer, type AnnounceInterface } from "../net/announcer";
import { claimOrigin, conflictReason } from "../net/arp-conflict";
import { ArpListener } from "../net/arp-listener";
import { ConflictMonitor, type ObservedClaim } from "../net/conflict-monitor";
import { PacketSocket } from "../net/packet-socket";
import { ZERO_MAC } from "../net/wire";
import { EligibilityTracker } from "../net/eligibility";
import { KernelTransport } from "../net/kernel-transport";
import { ConfigLoader } from "./config-loader";
import { NetlinkWatch } from "../net/netlink-watch";
import { VipAddresses } from "../net/vip-addresses";
import { VipReconciler, type ReconcileResult } from "../net/vip-reconciler";
import { activate, type ActiveConfig, type ReloadOutcome } from "./config-state";
import type { AllocationResult } from "../alloc/types";
import { splitHostPort, startHttpServer } from "./http-server";
import { eventLevel } from "./event-level";
import type { Logger } from "./log";
import { createMetrics, type Metrics } from "./metrics";
import type { ServiceNotifier } from "./sd-notify";
import type { DaemonStatus, StatusEvent, StatusMember, StatusVip } from "./status-types";

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
  /** systemd readiness and watchdog; the reconcile loop feeds it. */
  readonly notifier?: ServiceNotifier;
}

interface Ownership {
  owner: string | undefined;
  since: Date;
}

const TICK_MS = 1000;
const MAX_EVENTS = 50;
/** Lifeguard score from which this node's own slowness stretches detection ×4 or more: worth a warning. */
const LOCAL_HEALTH_WARN_SCORE = 3;
/** A clean probe lets the reconcile right after it take the IP; later takeovers probe again. */
const PROBE_RESULT_VALID_MS = 1000;
/**
 * A takeover from a member seen holding the IP (or failing) this recently is a handover: no probe, so
 * failovers and moves stay as fast as without conflict detection.
 */
const HANDOVER_WINDOW_MS = 30_000;
/** A foreign claim on an IP this node holds stays in the status this long after its last frame. */
const HELD_CONFLICT_SHOWN_MS = 60_000;

interface ForeignConflict {
  readonly mac: string;
  readonly since: Date;
  nextProbeAt: number;
}

interface HeldConflict {
  readonly mac: string;
  readonly since: Date;
  lastSeen: number;
}

export class Daemon {
  readonly metrics: Metrics = createMetrics();
  private readonly settings: Settings;
  private readonly log: Logger;
  private active!: ActiveConfig;
  private stale = false;
  private staleErrors: readonly string[] = [];
  private memberlist!: ThreadedMemberlist;
  private watch!: NetlinkWatch;
  private transport!: KernelTransport;
  private announcer!: Announcer;
  private eligibility!: EligibilityTracker;
  private reconciler!: VipReconciler;
  private http: Server | undefined;
  private fileWatcher: FSWatcher | undefined;
  private tick: NodeJS.Timeout | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private readonly configLoader = new ConfigLoader();
  private reloading: Promise<void> | undefined;
  /** The trigger of a reload asked for while one was running. */
  private reloadAgain: string | undefined;
  private reconcileQueued = false;
  private ready = false;
  private stopping = false;
  private readonly startedAt = new Date();
  private lastLoopAt = Date.now();
  private readonly ownership = new Map<string, Ownership>();
  private readonly elections = new Map<string, ElectionResult>();
  /** electionIp -> the failed previous owner's last sign of life (performance.now()), for the failover histogram. */
  private readonly failedOwnerAt = new Map<string, number>();
  private readonly events: StatusEvent[] = [];
  private lastMetadata: MemberMetadata | undefined;
  /** lastMetadata's eligible IPs as a set, built on the first comparison after each publish. */
  private lastEligible: Set<string> | undefined;
  /** The inputs of the last `vipd_announced` rebuild. */
  private announcedFor: { active: ActiveConfig; desired: ReadonlyMap<string, string> } | undefined;
  /** Counter values already added to prom-client, by source key (gossip stats, announcer frames). */
  private readonly syncedCounters = new Map<string, number>();
  /** This node's allocation table with each entry's `since`, as gossiped. */
  private allocationEntries: AllocationEntry[] = [];
  private allocationTableDigest = "";
  /** Peers' table digests last merged, so an unchanged view is not merged again. */
  private mergedPeersKey = "";
  private manifestStamp = "";
  private keyring: Keyring | undefined;
  /** Election IPs this node holds, gossiped so (re)joining nodes learn the current owners. */
  private ownedGroups: string[] = [];
  private quorumOk = true;
  private reannouncePending = false;
  /** electionIp -> peers that still claim an IP this node owns. */
  private readonly contested = new Map<string, readonly string[]>();
  private readonly health = new HealthMonitor();
  /** ip -> the services on it that have a health check. */
  private checkedServicesByIp = new Map<string, string[]>();
  private quorumReason: string | undefined;
  private conflictMonitor!: ConflictMonitor;
  /** ip -> the foreign device a probe found answering for it: not taken, probed again later. */
  private readonly conflicts = new Map<string, ForeignConflict>();
  private readonly probing = new Set<string>();
  /** ip -> when a probe last found nobody answering. */
  private readonly probedClearAt = new Map<string, number>();
  /** electionIp -> when this node stopped holding it (gossiped as `released` for HANDOVER_WINDOW_MS). */
  private readonly releasedAt = new Map<string, number>();
  /** electionIp -> the member last seen claiming it (gossiped `owned`), and when. */
  private readonly lastHolders = new Map<string, { member: string; at: number }>();
  /** ip -> a foreign device claiming an IP this node holds. */
  private readonly heldConflicts = new Map<string, HeldConflict>();
  /** "ip|member" pairs already answered with a re-announce while this node holds the IP. */
  private readonly memberClaimsAnswered = new Set<string>();

  constructor(private readonly options: DaemonOptions) {
    this.settings = options.settings;
    this.log = options.logger;
  }

  get nodeName(): string {
    return this.settings.nodeName;
  }

  /** Loads the config (throws with every error on a bad one), then starts every edge and the loop. */
  async start(): Promise<void> {
    const statePath = join(this.settings.stateDir, "allocations.json");
    // A newer or unknown format throws here: refusing to start beats renumbering every service.
    const previous = readAllocationState(statePath, `vipd ${this.options.version}`);
    if (previous.warning) this.log.log("warn", "stateFile", previous.warning, { path: statePath });
    if (previous.migratedFrom !== undefined)
      this.log.log(
        "info",
        "stateFile",
        `migrated ${statePath} from format version ${previous.migratedFrom}`,
        {
          path: statePath,
        },
      );
    const first = activate(loadManifests(this.settings.manifests), previous.state, new Date());
    if (!first.ok)
      throw new Error(`configuration has errors, refusing to start:\n${first.errors.join("\n")}`);
    this.active = first.active;
    this.refreshAllocationEntries(new Map());
    this.persistAllocation();
    this.recordConfigMetrics();
    this.logAllocation();

    const keyring = this.readKeyring();
    this.keyring = keyring;
    this.event("started", `vipd ${this.options.version} starting as "${this.nodeName}"`);
    this.watch = await NetlinkWatch.start();
    this.transport = new KernelTransport();
    this.announcer = new Announcer(this.transport, {}, undefined, { countPerIp: false });
    this.conflictMonitor = new ConflictMonitor(
      () => new ArpListener(),
      () => new PacketSocket(),
      { probeMs: this.settings.cluster.arpProbeMs },
    );
    this.conflictMonitor.onClaim((claim) => this.onHeldClaim(claim));
    this.eligibility = new EligibilityTracker(this.watch);
    this.eligibility.onChange(() => this.scheduleReconcile());
    this.reconciler = new VipReconciler(this.watch, new VipAddresses(this.watch.requestSocket), (result) =>
      this.onAddressesReconciled(result),
    );
    this.trackVips();
    this.health.onChange((entry, previous) => this.onHealthChange(entry, previous));
    this.syncHealthChecks();
    // Peers should learn this node's real health with its first metadata, not a "pending" that flips.
    const longest = Math.max(0, ...this.health.entries().map((e) => e.spec.timeoutMs));
    await this.health.firstRound(longest + 200);

    const { host: bindHost, port: bindPort } = splitHostPort(this.settings.cluster.bind);
    this.memberlist = await ThreadedMemberlist.start({
      name: this.nodeName,
      bindHost,
      bindPort,
      advertise: this.settings.cluster.advertise ?? undefined,
      profile: this.options.profile ?? "lan",
      failureTimeoutMs: this.settings.cluster.failureTimeoutMs ?? undefined,
      clusterLabel: this.options.clusterLabel ?? "vipd",
      keys: keyring?.list(),
      metadata: this.localMetadata(),
      build: this.options.version,
    });
    this.memberlist.onFailure((reason) => {
      this.log.log("critical", "gossipFailed", `${reason}; exiting so the service manager restarts vipd`);
      process.exit(1);
    });
    for (const event of ["join", "alive", "suspect", "dead", "leave", "metadata"] as const) {
      this.memberlist.on(event, (member) => this.onMemberEvent(event, member));
    }
    this.memberlist.on("refused", (member, reason) => {
      this.event("memberRefused", reason, { member: member.name });
      this.scheduleReconcile();
    });
    // A score above 0 stretches detection. Every move is logged at debug (with its cause, which explains a slow
    // failover); crossing LOCAL_HEALTH_WARN_SCORE is a warning and coming back under it is info, so a busy
    // machine's 0-1-0 flutter does not fill the log at the default level.
    let healthDegraded = false;
    this.memberlist.on("health", (score, cause) => {
      this.metrics.localHealth.set(score);
      const degraded = score >= LOCAL_HEALTH_WARN_SCORE;
      const level = degraded === healthDegraded ? "debug" : degraded ? "warn" : "info";
      healthDegraded = degraded;
      this.log.log(level, "localHealth", `local health score ${score} (${cause})`, { cause, score });
    });
    this.memberlist.start();
    if (this.settings.cluster.join.length > 0) this.memberlist.join(this.settings.cluster.join);
    const joinWait = this.settings.cluster.join.length === 0 ? 0 : (this.options.joinWaitMs ?? 3000);
    setTimeout(() => this.markReady("gave up waiting for peers"), joinWait).unref();

    // The first pass with an empty desired set removes stale marked addresses left by a crash.
    await this.reconciler.setDesired(new Map());
    this.http = await startHttpServer(this.settings.metrics.listen, {
      registry: this.metrics.registry,
      status: () => this.status(),
      healthy: () => Date.now() - this.lastLoopAt < 5 * TICK_MS,
      ready: () => this.ready,
    });
    this.configLoader.warm(this.settings.manifests);
    this.watchManifests();
    this.manifestStamp = manifestSignature(this.settings.manifests);
    // The watchdog is fed by the loop, so the loop must run at least at the watchdog's pace.
    const tickMs = Math.min(TICK_MS, this.options.notifier?.watchdogPaceMs ?? TICK_MS);
    this.tick = setInterval(() => {
      // A safety net under the watcher: a change it missed is still picked up within a tick.
      if (manifestSignature(this.settings.manifests) !== this.manifestStamp)
        this.reload("manifest changed on disk");
      this.scheduleReconcile();
    }, tickMs);
    this.scheduleReconcile();
  }

  /**
   * Re-reads the manifests (off the main thread). A failure keeps the config in force and marks it stale.
   * Reloads asked for while one runs are folded into one more run after it, so the newest files win.
   */
  reload(trigger: string): void {
    if (this.stopping) return;
    if (trigger === "SIGHUP") this.reloadKeyring();
    this.manifestStamp = manifestSignature(this.settings.manifests);
    if (this.reloading) {
      this.log.log("debug", "reloadQueued", `${trigger}: a reload is running; another follows it`);
      this.reloadAgain = trigger;
      return;
    }
    this.log.log("debug", "reloadStarted", `${trigger}: loading ${this.settings.manifests.join(", ")}`);
    this.reloading = this.configLoader
      .load(this.settings.manifests, this.active.allocation.state)
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

  private applyReload(outcome: ReloadOutcome, trigger: string): void {
    if (this.stopping) return;
    if (!outcome.ok) {
      this.stale = true;
      this.staleErrors = outcome.errors;
      this.metrics.configStale.set(1);
      for (const e of outcome.errors) this.log.log("error", "configInvalid", e, { trigger });
      this.event(
        "configInvalid",
        `reload (${trigger}) rejected, keeping the last good config: ${outcome.errors[0]}`,
      );
      return;
    }
    const changed = outcome.active.load.digest !== this.active.load.digest || this.stale;
    const before = this.active.allocation;
    this.active = outcome.active;
    this.refreshAllocationEntries(new Map(this.allocationEntries.map((e) => [e.service, e])));
    this.mergedPeersKey = "";
    this.stale = false;
    this.staleErrors = [];
    this.persistAllocation();
    this.recordConfigMetrics();
    if (changed) {
      this.logAllocation(before);
      this.event(
        "configLoaded",
        `config reloaded (${trigger}), digest ${this.active.load.digest.slice(0, 12)}`,
      );
    }
    this.trackVips();
    this.syncHealthChecks();
    this.scheduleReconcile();
  }

  /** Graceful stop: peers take over while this node still holds its addresses, then they go. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.options.notifier?.stopping();
    this.event("stopping", "leaving the cluster");
    if (this.tick) clearInterval(this.tick);
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.configLoader.close();
    await this.fileWatcher?.close();
    // No frame from us after the new owner's first announcement.
    this.announcer.stop();
    await this.memberlist.leave();
    this.health.close();
    await this.reconciler.releaseAll();
    // Closing a packet socket waits for an RCU grace period (~10 ms): only after peers have taken over.
    this.conflictMonitor.close();
    this.memberlist.stop();
    this.eligibility.close();
    this.watch.close();
    this.transport.close();
    await new Promise<void>((resolve) => (this.http ? this.http.close(() => resolve()) : resolve()));
  }

  status(): DaemonStatus {
    const members = this.memberlist.members();
    const ownerCounts = new Map<string, number>();
    for (const o of this.ownership.values()) {
      if (o.owner) ownerCounts.set(o.owner, (ownerCounts.get(o.owner) ?? 0) + 1);
    }
    const digest = this.active.load.digest;
    const vips: StatusVip[] = this.active.groups.map((g) => {
      const election = this.elections.get(g.electionIp);
      const owned = this.ownership.get(g.electionIp);
      const owner = election?.owner ?? null;
      return {
        ip: g.electionIp,
        ips: g.ips,
        services: g.services,
        pool: g.pool,
        owner,
        interface: owner ? this.interfaceOf(owner, g.electionIp) : null,
        since: owned?.owner ? owned.since.toISOString() : null,
        ranking: election?.ranking ?? [],
        ...(election?.reason ? { reason: election.reason } : {}),
      };
    });
    const warnings: string[] = [];
    for (const m of members) {
      if (m.metadata && m.metadata.manifestDigest !== digest && m.state !== "dead" && m.state !== "left") {
        warnings.push(
          `configMismatch: node ${m.name} runs manifests ${m.metadata.manifestDigest.slice(0, 12)}, this node ${digest.slice(0, 12)}`,
        );
      }
      for (const x of m.metadata?.eligibility.ineligible ?? [])
        warnings.push(`${m.name} cannot serve ${x.vip}: ${x.reason}`);
    }
    for (const w of this.active.allocation.warnings) warnings.push(w.message);
    if (this.quorumReason) warnings.unshift(`${this.quorumReason}: this node holds no VIPs`);
    for (const [ip, c] of this.conflicts)
      warnings.unshift(`addressConflict: ${conflictReason(ip, c.mac)}; this node does not take it`);
    for (const [ip, c] of this.heldConflicts)
      warnings.unshift(
        `addressConflict: ${ip} held by this node is also claimed by ${c.mac} (not a cluster member) since ${c.since.toISOString()}`,
      );
    return {
      node: this.nodeName,
      version: this.options.version,
      startedAt: this.startedAt.toISOString(),
      ready: this.ready,
      config: {
        loaded: true,
        stale: this.stale,
        lastReload: this.active.loadedAt.toISOString(),
        digest,
        errors: this.staleErrors,
      },
      members: members.map((m) => ({
        name: m.name,
        address: m.addr,
        state: m.state,
        incarnation: m.incarnation,
        manifestDigest: m.metadata?.manifestDigest ?? "",
        vips: ownerCounts.get(m.name) ?? 0,
        self: m.name === this.nodeName,
        configMismatch: m.metadata !== undefined && m.metadata.manifestDigest !== digest,
        ...(m.name === this.nodeName ? this.ownVersion() : memberVersion(m)),
      })),
      vips,
      allocationErrors: this.active.allocation.errors.map((e) => ({
        service: e.service,
        message: e.message,
      })),
      warnings,
      detection: this.memberlist.detection,
      health: this.health.entries().map((e) => ({
        service: e.service,
        check: e.spec.text,
        status: e.state.status,
        since: e.since.toISOString(),
        ...(e.state.detail && e.state.status === "down" ? { detail: e.state.detail } : {}),
      })),
      events: [...this.events],
    };
  }

  // ---- reconcile -------------------------------------------------------------------------------

  private scheduleReconcile(): void {
    if (this.reconcileQueued || this.stopping) return;
    this.reconcileQueued = true;
    setImmediate(() => {
      this.reconcileQueued = false;
      if (!this.stopping) this.reconcile();
    });
  }

  private reconcile(): void {
    // Health results can arrive while start() is still bringing up the gossip layer.
    if (this.memberlist === undefined) return;
    this.lastLoopAt = Date.now();
    this.adoptPeerAllocations();
    const members = this.memberlist.members();
    const memberInfos: MemberInfo[] = members.map((m) => ({
      name: m.name,
      state: m.state,
      labels: m.name === this.nodeName ? this.settings.labels : (m.metadata?.labels ?? {}),
    }));
    const eligibilityView = this.eligibilityView(members);
    const quorum = this.checkQuorum(members);
    const claims = this.peerClaims(members);
    const now = performance.now();
    for (const [ip, names] of claims) this.sawHolder(ip, names[0] ?? "", now);
    for (const m of members) {
      if (m.name === this.nodeName || (m.state !== "alive" && m.state !== "suspect")) continue;
      for (const ip of m.metadata?.released ?? []) this.sawHolder(ip, m.name, now);
    }
    // The desired set is gathered in two flat lists and becomes a new map only when it differs from the one
    // the reconciler holds: a 10,000-entry map per tick lands in large-object space (old generation).
    const desiredIps: string[] = [];
    const desiredItfs: string[] = [];
    const owned: string[] = [];
    const self = [this.nodeName];
    // One policy object for the whole loop; electOwner does not keep it.
    const policy: { failback: boolean; currentOwner: string | undefined; claimants: readonly string[] } = {
      failback: false,
      currentOwner: undefined,
      claimants: [],
    };
    for (const group of this.active.groups) {
      const current = this.ownership.get(group.electionIp);
      const plan = this.active.plans.get(group.electionIp) ?? planGroup(group, this.active.config);
      const previous = this.elections.get(group.electionIp);
      const peerClaims = claims.get(group.electionIp);
      policy.failback = this.settings.cluster.failback && plan.failback;
      policy.currentOwner = current?.owner;
      policy.claimants =
        current?.owner === this.nodeName
          ? peerClaims
            ? [this.nodeName, ...peerClaims]
            : self
          : (peerClaims ?? NO_CLAIMS);
      const elected = electOwner(plan, memberInfos, eligibilityView, policy, previous);
      // Without quorum this node cannot know who owns what: it holds nothing and says why.
      const result: ElectionResult = quorum.ok
        ? elected
        : { ranking: elected.ranking, interfaces: [], reason: quorum.reason };
      const owner = this.ready ? result.owner : undefined;
      // Keep the stored result when nothing changed: replacing 10,000 long-lived results every tick
      // promoted them all to the old generation, whose growth between full GCs was most of the RSS.
      if (previous === undefined || (result !== previous && !sameElection(previous, result)))
        this.elections.set(group.electionIp, result);
      if (owner !== current?.owner) this.ownerChanged(group, current?.owner, owner);
      if (owner !== this.nodeName) continue;
      let probing = false;
      for (const ip of group.ips) {
        const choice = this.eligibility.choice(ip);
        if (!choice?.eligible) continue;
        if (this.mustProbe(ip, group.electionIp, now)) {
          this.startProbe(ip, choice.interfaces);
          probing = true;
          continue;
        }
        desiredIps.push(ip);
        desiredItfs.push(choice.interfaces[0] ?? "");
      }
      // Claimed in gossip only once held: peers then know a probe, not a member, found a foreign device.
      if (!probing) owned.push(group.electionIp);
    }
    const held = this.reconciler.desiredSet();
    const desired: ReadonlyMap<string, string> = sameAsLists(held, desiredIps, desiredItfs)
      ? held
      : new Map(desiredIps.map((ip, i) => [ip, desiredItfs[i] ?? ""]));
    this.reprobeConflicts(now);
    this.forgetHeldConflicts(desired, now);
    const v4: string[] = [];
    for (const ip of desiredIps) if (this.active.families.get(ip) === 4) v4.push(ip);
    this.conflictMonitor.watch(v4);
    owned.sort();
    this.trackReleases(owned, now);
    if (!sameList(owned, this.ownedGroups)) this.ownedGroups = owned;
    this.publishMetadata();
    this.resolveContested(owned, claims);
    if (this.reannouncePending) {
      this.reannouncePending = false;
      // A member that (re)appears may have been announcing our IPs during a partition: say ours again.
      this.reannounce(desired.keys(), "a member joined or came back");
    }
    for (const ip of this.reconciler.desiredSet().keys()) if (!desired.has(ip)) this.announcer.withdraw(ip);
    this.announcedMetric(desired);
    this.countMembers(members);
    void this.reconciler.setDesired(desired);
    this.options.notifier?.loop({
      ready: this.ready,
      ownedIps: desired.size,
      totalIps: this.active.groups.reduce((n, g) => n + g.ips.length, 0),
      membersAlive: members.filter((m) => m.state === "alive").length,
      members: members.filter((m) => m.state !== "left").length,
    });
  }

  // ---- address conflicts -----------------------------------------------------------------------

  /**
   * An IPv4 VIP this node is about to take is probed first (RFC 5227) unless it is already held here or
   * the takeover is a handover from a member: one that held it, or failed or left, recently.
   */
  private mustProbe(ip: string, electionIp: string, now: number): boolean {
    if (this.settings.cluster.arpProbeMs === 0 || this.active.families.get(ip) !== 4) return false;
    if (this.reconciler.desiredSet().has(ip)) return false;
    const failedAt = this.failedOwnerAt.get(electionIp);
    if (failedAt !== undefined && now - failedAt < HANDOVER_WINDOW_MS) return false;
    const holder = this.lastHolders.get(electionIp);
    if (holder !== undefined && now - holder.at < HANDOVER_WINDOW_MS) return false;
    const clearAt = this.probedClearAt.get(ip);
    return clearAt === undefined || now - clearAt > PROBE_RESULT_VALID_MS;
  }

  private startProbe(ip: string, interfaces: readonly string[]): void {
    if (this.probing.has(ip) || this.stopping) return;
    this.probing.add(ip);
    const started = performance.now();
    this.conflictMonitor.probe(ip, this.interfacesFor(interfaces)).then(
      (claims) => this.onProbeDone(ip, claims, performance.now() - started),
      (error: unknown) => {
        this.probing.delete(ip);
        // Not being able to probe must not keep a VIP down: take it, and say why there was no probe.
        this.log.log("warn", "probeFailed", `${ip}: ${(error as Error).message}; taking it unprobed`, { ip });
        this.probedClearAt.set(ip, performance.now());
        this.scheduleReconcile();
      },
    );
  }

  private onProbeDone(ip: string, claims: readonly ObservedClaim[], elapsedMs: number): void {
    this.probing.delete(ip);
    if (this.stopping) return;
    const localMacs = this.localMacs();
    const memberByMac = this.memberMacs();
    const foreign = claims.find((c) => claimOrigin(c.mac, localMacs, memberByMac).kind === "foreign");
    const reprobeMs = this.settings.cluster.conflictReprobeMs;
    const previous = this.conflicts.get(ip);
    const electionIp = this.active.groupByIp.get(ip)?.electionIp;
    if (foreign) {
      this.conflicts.set(ip, {
        mac: foreign.mac,
        since: previous?.mac === foreign.mac ? previous.since : new Date(),
        nextProbeAt: performance.now() + reprobeMs,
      });
      // Re-probe on time, not on the next 1 s tick.
      setTimeout(() => this.scheduleReconcile(), reprobeMs + 1).unref();
      if (previous?.mac !== foreign.mac) {
        this.metrics.addressConflicts.inc({ ip });
        this.event(
          "addressConflict",
          `${conflictReason(ip, foreign.mac)}: not taking it, probing again every ${reprobeMs / 1000} s`,
          { ip, mac: foreign.mac },
          undefined,
          electionIp,
        );
      }
    } else {
      this.probedClearAt.set(ip, performance.now());
      if (previous) {
        this.conflicts.delete(ip);
        this.event(
          "addressConflictResolved",
          `${ip}: ${previous.mac} no longer answers for it, this node may take it`,
          { ip, mac: previous.mac },
          undefined,
          electionIp,
        );
      }
    }
    this.log.log("info", "arpProbe", `${ip}: ${foreign ? `held by ${foreign.mac}` : "free"}`, {
      ip,
      ms: elapsedMs.toFixed(1),
    });
    this.scheduleReconcile();
  }

  /** `owned` sorted, like ownedGroups. */
  private trackReleases(owned: readonly string[], now: number): void {
    // A 10,000-entry set per tick is an old-generation allocation; the held set rarely changes.
    if (!sameList(owned, this.ownedGroups)) {
      const still = new Set(owned);
      for (const ip of this.ownedGroups) if (!still.has(ip)) this.releasedAt.set(ip, now);
    }
    if (this.releasedAt.size > 0) for (const ip of owned) this.releasedAt.delete(ip);
    for (const [ip, at] of this.releasedAt) if (now - at > HANDOVER_WINDOW_MS) this.releasedAt.delete(ip);
  }

  private sawHolder(electionIp: string, member: string, now: number): void {
    const seen = this.lastHolders.get(electionIp);
    // Updated in place: a fresh object per claimed IP per tick is old-generation garbage (see reconcile).
    if (seen === undefined) this.lastHolders.set(electionIp, { member, at: now });
    else {
      seen.member = member;
      seen.at = now;
    }
  }

  /** Conflicted IPs whose re-probe is due (every node that found the device re-probes on its own). */
  private reprobeConflicts(now: number): void {
    for (const [ip, conflict] of this.conflicts) {
      if (!this.active.groupByIp.has(ip)) {
        this.conflicts.delete(ip);
        continue;
      }
      if (conflict.nextProbeAt > now || this.probing.has(ip)) continue;
      const choice = this.eligibility.choice(ip);
      if (choice?.eligible) this.startProbe(ip, choice.interfaces);
    }
  }

  private forgetHeldConflicts(desired: ReadonlyMap<string, string>, now: number): void {
    for (const [ip, c] of this.heldConflicts)
      if (!desired.has(ip) || now - c.lastSeen > HELD_CONFLICT_SHOWN_MS) this.heldConflicts.delete(ip);
    for (const key of this.memberClaimsAnswered)
      if (!desired.has(key.slice(0, key.indexOf("|")))) this.memberClaimsAnswered.delete(key);
  }

  /**
   * Someone else's ARP claims an IP this node holds. A foreign device is reported and answered with one
   * more burst, never fought with endless announcements; a live member that still answers although it
   * lost the election gets one burst from us (the winner) so clients settle on it.
   */
  private onHeldClaim(claim: ObservedClaim): void {
    if (this.stopping || !this.reconciler.desiredSet().has(claim.ip)) return;
    const origin = claimOrigin(claim.mac, this.localMacs(), this.memberMacs());
    if (origin.kind === "self") return;
    if (origin.kind === "member") {
      const key = `${claim.ip}|${origin.member}`;
      const state = this.memberlist.member(origin.member)?.state;
      if (state !== "alive" || this.memberClaimsAnswered.has(key)) return;
      this.memberClaimsAnswered.add(key);
      this.reannounce([claim.ip], `member ${origin.member} still answers for it`);
      return;
    }
    const known = this.heldConflicts.get(claim.ip);
    if (known?.mac === claim.mac) {
      known.lastSeen = performance.now();
      return;
    }
    this.heldConflicts.set(claim.ip, { mac: claim.mac, since: new Date(), lastSeen: performance.now() });
    this.metrics.addressConflicts.inc({ ip: claim.ip });
    this.event(
      "addressConflict",
      `${claim.ip} held by this node is also claimed by ${claim.mac} (not a cluster member): announcing once more, then only reporting`,
      { ip: claim.ip, mac: claim.mac },
      undefined,
      this.active.groupByIp.get(claim.ip)?.electionIp,
    );
    this.reannounce([claim.ip], `foreign device ${claim.mac} claimed it`);
  }

  /** Every MAC of this node's links (bridges, bonds and their ports share MACs). */
  private localMacs(): Set<string> {
    return new Set(this.watch.snapshot().links.map((l) => l.mac.toLowerCase()));
  }

  /** mac -> member, from the MACs every member gossips; members in any state count. */
  private memberMacs(): Map<string, string> {
    const byMac = new Map<string, string>();
    for (const m of this.memberlist.members()) {
      if (m.name === this.nodeName) continue;
      for (const mac of m.metadata?.macs ?? []) byMac.set(mac.toLowerCase(), m.name);
    }
    return byMac;
  }

  /** Election IPs each live peer says it holds now (gossiped as `owned`). */
  private peerClaims(members: readonly MemberView[]): Map<string, string[]> {
    const claims = new Map<string, string[]>();
    for (const m of members) {
      if (m.name === this.nodeName || (m.state !== "alive" && m.state !== "suspect")) continue;
      for (const ip of m.metadata?.owned ?? []) claims.set(ip, [...(claims.get(ip) ?? []), m.name]);
    }
    return claims;
  }

  /**
   * Member-vs-member conflicts: while a peer still claims an IP this node won by election order, remember
   * it; once the peer lets go, re-send our burst so the last word on the wire is the winner's.
   */
  private resolveContested(owned: readonly string[], claims: ReadonlyMap<string, readonly string[]>): void {
    if (this.contested.size > 0) {
      const mine = new Set(owned);
      for (const ip of [...this.contested.keys()]) if (!mine.has(ip)) this.contested.delete(ip);
    }
    for (const electionIp of owned) {
      const rivals = claims.get(electionIp) ?? NO_CLAIMS;
      if (rivals.length > 0) {
        // Also the normal tail of a handover (the old owner has not let go yet), so a log line, not an event.
        if (!this.contested.has(electionIp)) {
          this.log.log("info", "ownershipContested", `${rivals.join(", ")} still holds ${electionIp}`, {
            ip: electionIp,
            rivals: rivals.join(","),
          });
        }
        this.contested.set(electionIp, rivals);
      } else if (this.contested.has(electionIp)) {
        const was = this.contested.get(electionIp) ?? [];
        this.contested.delete(electionIp);
        const group = this.active.groupByIp.get(electionIp);
        this.reannounce(group?.ips ?? [electionIp], `${was.join(", ")} released it`);
      }
    }
  }

  private checkQuorum(members: readonly MemberView[]): QuorumVerdict {
    const cluster = this.settings.cluster;
    const verdict = quorumOf(
      members.map((m) => m.state),
      { mode: cluster.quorum, expect: cluster.expect ?? cluster.join.length + 1 },
    );
    this.metrics.quorum.set(verdict.ok ? 1 : 0);
    if (verdict.ok !== this.quorumOk) {
      this.quorumOk = verdict.ok;
      if (verdict.ok)
        this.event(
          "quorumRegained",
          `sees ${verdict.seen} members (${verdict.needed} needed): may hold VIPs`,
        );
      else this.event("quorumLost", `${verdict.reason ?? "no quorum"}: releasing every VIP`);
    }
    this.quorumReason = verdict.reason;
    return verdict;
  }

  /**
   * Eligibility as each member reports it; this node's own is read fresh from the tracker. Answered per
   * lookup: building node x IP maps on every reconcile cost O(members x VIPs) allocations each tick.
   */
  private eligibilityView(members: readonly MemberView[]): EligibilityView {
    const view = new Map<string, EligibilityLookup>();
    const myDigest = this.active.load.digest;
    const configured = this.active.groupByIp;
    for (const m of members) {
      if (m.name === this.nodeName) {
        view.set(m.name, { get: (ip) => (configured.has(ip) ? this.localReport(ip) : undefined) });
      } else if (m.metadata) {
        const reports = peerReports(m.metadata);
        // A peer on the same manifests that has not reported a new IP yet is about to: count it in, so a
        // fresh service is not briefly announced by two nodes.
        const sameConfig = m.metadata.manifestDigest === myDigest;
        view.set(m.name, {
          get: (ip) => reports.get(ip) ?? (sameConfig && configured.has(ip) ? ELIGIBLE : undefined),
        });
      } else view.set(m.name, new Map());
    }
    return view;
  }

  private localReport(ip: string): EligibilityReport {
    const choice = this.eligibility.choice(ip);
    if (!choice) return { eligible: false, reason: "interfaces not known yet" };
    if (!choice.eligible) return { eligible: false, reason: choice.reason };
    const conflict = this.conflicts.get(ip);
    if (conflict) return { eligible: false, reason: conflictReason(ip, conflict.mac) };
    const unhealthy = this.unhealthyReason(ip);
    if (unhealthy) return { eligible: false, reason: unhealthy };
    return { eligible: true, interface: choice.interfaces[0] };
  }

  /** Why a service on `ip` is not healthy on this node, or undefined when all of them are. */
  private unhealthyReason(ip: string): string | undefined {
    for (const service of this.checkedServicesByIp.get(ip) ?? []) {
      const entry = this.health.state(service);
      if (!entry || entry.state.status === "up") continue;
      return entry.state.status === "pending"
        ? `health check ${entry.spec.text} of ${service} has no result yet`
        : `health check ${entry.spec.text} failing: ${entry.state.detail ?? "failed"}`;
    }
    return undefined;
  }

  /** Runs the checks of the services that have an IP; every node runs them, owner or not. */
  private syncHealthChecks(): void {
    const specs = new Map<string, HealthCheckSpec>();
    const byIp = new Map<string, string[]>();
    const services = new Map(this.active.config.services.map((s) => [s.key, s]));
    for (const group of this.active.groups) {
      for (const key of group.services) {
        const spec = services.get(key)?.healthCheck;
        if (!spec) continue;
        specs.set(key, spec);
        for (const ip of group.ips) byIp.set(ip, [...(byIp.get(ip) ?? []), key]);
      }
    }
    this.checkedServicesByIp = byIp;
    this.health.setChecks(specs);
    this.metrics.healthCheckUp.reset();
    for (const entry of this.health.entries()) this.recordHealth(entry);
  }

  private recordHealth(entry: HealthEntry): void {
    if (entry.state.status === "pending") this.metrics.healthCheckUp.remove({ service: entry.service });
    else this.metrics.healthCheckUp.set({ service: entry.service }, entry.state.status === "up" ? 1 : 0);
  }

  private onHealthChange(entry: HealthEntry, previous: HealthState): void {
    this.recordHealth(entry);
    const fields = { service: entry.service, check: entry.spec.text };
    if (entry.state.status === "down") {
      this.event(
        "healthCheckFailing",
        `health check ${entry.spec.text} of ${entry.service} failing: ${entry.state.detail ?? "failed"}`,
        fields,
        entry.service,
      );
    } else if (entry.state.status === "up" && previous.status === "down") {
      this.event(
        "healthCheckPassing",
        `health check ${entry.spec.text} of ${entry.service} passes again`,
        fields,
        entry.service,
      );
    }
    this.scheduleReconcile();
  }

  private interfaceOf(owner: string, ip: string): string | null {
    if (owner === this.nodeName) return this.localReport(ip).interface ?? null;
    return this.memberlist.member(owner)?.metadata?.eligibility.interfaces?.[ip] ?? null;
  }

  private refreshAllocationEntries(known: ReadonlyMap<string, AllocationEntry>): void {
    this.allocationEntries = entriesFor(this.active.allocation.assignments, known, Date.now());
    this.allocationTableDigest = allocationDigest(this.allocationEntries);
  }

  /**
   * Allocation agreement: when a live peer holds a different table, merge every table (per service the
   * earliest allocation wins) and re-run the allocator with the merged table as `previous`.
   */
  private adoptPeerAllocations(): void {
    const peers = this.memberlist
      .members()
      .filter((m) => m.name !== this.nodeName && (m.state === "alive" || m.state === "suspect"))
      .flatMap((m) => (m.metadata?.allocation ? [{ node: m.name, table: m.metadata.allocation }] : []));
    const differing = peers.filter((p) => p.table.digest !== this.allocationTableDigest);
    if (differing.length === 0) return;
    const key = `${this.allocationTableDigest}|${differing.map((p) => `${p.node}:${p.table.digest}`).join(",")}`;
    if (key === this.mergedPeersKey) return;
    this.mergedPeersKey = key;
    const merged = mergeAllocations([
      { node: this.nodeName, entries: this.allocationEntries },
      ...peers.map((p) => ({ node: p.node, entries: p.table.entries })),
    ]);
    const outcome = activate(this.active.load, merged.state, this.active.loadedAt);
    if (!outcome.ok) return;
    const before = this.allocationTableDigest;
    this.active = outcome.active;
    this.refreshAllocationEntries(merged.entries);
    if (this.allocationTableDigest === before) return;
    this.mergedPeersKey = "";
    this.persistAllocation();
    this.recordConfigMetrics();
    this.trackVips();
    this.syncHealthChecks();
    this.event(
      "allocationMerged",
      `adopted the cluster's allocation (merged with ${differing.map((p) => p.node).join(", ")})`,
    );
  }

  private ownerChanged(group: VipGroup, before: string | undefined, after: string | undefined): void {
    this.ownership.set(group.electionIp, { owner: after, since: new Date() });
    if (before === undefined && after === undefined) return;
    this.metrics.ownershipChanges.inc(group.ips.length);
    const fields = { ip: group.ips.join(","), services: group.services.join(","), from: before, to: after };
    if (after === undefined) {
      this.event(
        "announceWithdrawn",
        `nobody announces ${group.ips.join(",")}`,
        fields,
        undefined,
        group.electionIp,
      );
      return;
    }
    const itf = after === this.nodeName ? (this.localReport(group.electionIp).interface ?? "") : "";
    for (const service of group.services) {
      this.event(
        "nodeAssigned",
        `announcing from node "${after}" with protocol "layer2"`,
        { ...fields, service, interface: itf || undefined },
        service,
        group.electionIp,
      );
    }
  }

  private onAddressesReconciled(result: ReconcileResult): void {
    for (const added of result.added) {
      const choice = this.eligibility.choice(added.ip);
      if (!choice?.eligible || this.stopping) continue;
      this.announcer.announce(added.ip, this.interfacesFor(choice.interfaces));
      const group = this.active.groupByIp.get(added.ip);
      const failedAt = group ? this.failedOwnerAt.get(group.electionIp) : undefined;
      if (group && failedAt !== undefined) {
        this.metrics.failoverSeconds.observe((performance.now() - failedAt) / 1000);
        this.failedOwnerAt.delete(group.electionIp);
      }
      this.log.log(
        "info",
        added.repaired ? "addressRepaired" : "addressAdded",
        `${added.ip} on ${added.ifname}`,
        {
          ip: added.ip,
          interface: added.ifname,
        },
      );
    }
    for (const removed of result.removed) {
      this.log.log("info", "addressRemoved", `${removed.ip} from ${removed.ifname}`, { ip: removed.ip });
    }
    for (const failed of result.failed) {
      this.log.log("warn", "addressFailed", `${failed.ip} on ${failed.ifname}: ${failed.error}`, {
        ip: failed.ip,
      });
    }
  }

  private interfacesFor(names: readonly string[]): AnnounceInterface[] {
    return names.flatMap((name) => {
      const link = this.watch.link(name);
      return link
        ? [{ name: link.name, index: link.index, mac: link.mac, linkLocal: this.watch.linkLocal(link.index) }]
        : [];
    });
  }

  // ---- membership ------------------------------------------------------------------------------

  private onMemberEvent(event: string, member: MemberView): void {
    if (member.name === this.nodeName) return;
    if (event === "dead" || event === "leave") {
      // Failover time starts at the owner's last packet heard here, not at the verdict: detection is part of it.
      const lastSignOfLife = performance.now() - (member.silentForMs ?? 0);
      this.log.log(
        "debug",
        "lastSignOfLife",
        member.silentForMs === undefined
          ? `${member.name}: never heard directly; failover time counts from now`
          : `${member.name}: last packet heard ${Math.round(member.silentForMs)} ms before it was declared ${event === "leave" ? "left" : "dead"}`,
        {
          node: member.name,
        },
      );
      for (const [ip, o] of this.ownership)
        if (o.owner === member.name) this.failedOwnerAt.set(ip, lastSignOfLife);
    }
    if (event === "metadata")
      this.log.log("debug", "memberMetadata", `${member.name} published new metadata`, {
        node: member.name,
        digest: member.metadataDigest.slice(0, 12),
      });
    else {
      this.event(
        `member${event[0]?.toUpperCase()}${event.slice(1)}`,
        `${member.name} (${member.addr}) is ${member.state}`,
      );
    }
    // Re-announce after the reconcile this event triggers has decided, so a node that is about to lose an IP
    // (a healed partition) does not send the last word.
    if (event === "join" || event === "alive") this.reannouncePending = true;
    if (!this.ready && this.peersKnown()) this.markReady("joined the cluster");
    this.scheduleReconcile();
  }

  /** Announces again IPs this node already holds (new ones get their takeover burst anyway). */
  private reannounce(ips: Iterable<string>, why: string): void {
    if (!this.ready) return;
    const held = this.reconciler.desiredSet();
    const sent: string[] = [];
    for (const ip of ips) {
      const ifname = held.get(ip);
      if (ifname === undefined) continue;
      const choice = this.eligibility.choice(ip);
      this.announcer.announce(ip, this.interfacesFor(choice?.eligible ? choice.interfaces : [ifname]));
      sent.push(ip);
    }
    if (sent.length > 0)
      this.log.log("info", "reannounce", `${sent.join(",")}: ${why}`, { ip: sent.join(",") });
  }

  private peersKnown(): boolean {
    const others = this.memberlist.members().filter((m) => m.name !== this.nodeName && m.state === "alive");
    return others.length > 0 && others.every((m) => m.metadata !== undefined);
  }

  private markReady(why: string): void {
    if (this.ready || this.stopping) return;
    this.ready = true;
    this.event("ready", why);
    this.scheduleReconcile();
  }

  private localMetadata(): MemberMetadata {
    const eligible: string[] = [];
    const ineligible: { vip: string; reason: string }[] = [];
    const interfaces: Record<string, string> = {};
    for (const ip of this.active.groups.flatMap((g) => g.ips)) {
      const report = this.localReport(ip);
      if (report.eligible) {
        eligible.push(ip);
        if (report.interface) interfaces[ip] = report.interface;
      } else ineligible.push({ vip: ip, reason: report.reason ?? "not eligible" });
    }
    return {
      labels: this.settings.labels,
      manifestDigest: this.active.load.digest,
      eligibility: { eligible: eligible.sort(), ineligible, interfaces },
      allocation: { digest: this.allocationTableDigest, entries: this.allocationEntries },
      owned: this.ownedGroups,
      macs: [...this.localMacs()].filter((mac) => mac !== ZERO_MAC).sort(),
      ...(this.releasedAt.size > 0 ? { released: [...this.releasedAt.keys()].sort() } : {}),
    };
  }

  /**
   * Whether localMetadata() would give the eligibility last published, checked without building it: the
   * record holds 10,000-entry lists and an IP-keyed object, built every tick only to be found unchanged.
   */
  private eligibilityUnchanged(last: MemberMetadata): boolean {
    const { eligible, ineligible, interfaces = {} } = last.eligibility;
    this.lastEligible ??= new Set(eligible);
    let eligibleCount = 0;
    let ineligibleIndex = 0;
    for (const group of this.active.groups) {
      for (const ip of group.ips) {
        const choice = this.eligibility.choice(ip);
        // The common case without allocating a report: eligible, no conflict, no health check.
        const simple =
          choice?.eligible === true && !this.conflicts.has(ip) && !this.checkedServicesByIp.has(ip);
        const report = simple ? undefined : this.localReport(ip);
        if (simple || report?.eligible) {
          eligibleCount++;
          const itf = simple ? choice.interfaces[0] : report?.interface;
          if (!this.lastEligible.has(ip) || (itf ? interfaces[ip] !== itf : interfaces[ip] !== undefined))
            return false;
        } else {
          const x = ineligible[ineligibleIndex++];
          if (x?.vip !== ip || x.reason !== (report?.reason ?? "not eligible")) return false;
        }
      }
    }
    return eligibleCount === eligible.length && ineligibleIndex === ineligible.length;
  }

  private publishMetadata(): void {
    const last = this.lastMetadata;
    if (
      last !== undefined &&
      last.manifestDigest === this.active.load.digest &&
      last.labels === this.settings.labels &&
      last.allocation?.digest === this.allocationTableDigest &&
      last.owned === this.ownedGroups &&
      sameList(last.released ?? [], [...this.releasedAt.keys()].sort()) &&
      sameList(last.macs ?? [], [...this.localMacs()].filter((mac) => mac !== ZERO_MAC).sort()) &&
      this.eligibilityUnchanged(last)
    )
      return;
    const meta = this.localMetadata();
    // Compared field by field, the allocation table by its digest. A JSON key of the whole record was
    // ~700 KB at 10,000 VIPs: a large-object-space string every tick, only freed by a full GC.
    if (this.lastMetadata !== undefined && sameMetadata(meta, this.lastMetadata)) return;
    this.lastMetadata = meta;
    this.lastEligible = undefined;
    this.memberlist.setMetadata(meta);
  }

  // ---- config ----------------------------------------------------------------------------------

  /** Tells the tracker which VIPs to follow, with the interfaces named by the ads that select this node. */
  private trackVips(): void {
    const vips = new Map<string, readonly string[]>();
    const myLabels = this.settings.labels;
    for (const group of this.active.groups) {
      const ads = (this.active.plans.get(group.electionIp) ?? planGroup(group, this.active.config))
        .distinctAds;
      const mine = ads.filter((ad) => selectsNode(ad, myLabels));
      const interfaces = mine.some((ad) => ad.interfaces.length === 0)
        ? []
        : [...new Set(mine.flatMap((ad) => ad.interfaces))].sort();
      for (const ip of group.ips) vips.set(ip, interfaces);
    }
    this.eligibility.setVips(vips);
  }

  private watchManifests(): void {
    this.fileWatcher = watchFiles([...this.settings.manifests], { ignoreInitial: true, atomic: true });
    const onChange = (): void => {
      if (this.reloadTimer) clearTimeout(this.reloadTimer);
      // Editors write in several steps; a short pause lets the last one land before we parse.
      this.reloadTimer = setTimeout(() => this.reload("file change"), 20);
    };
    for (const e of ["add", "change", "unlink"] as const) this.fileWatcher.on(e, onChange);
  }

  private persistAllocation(): void {
    const path = join(this.settings.stateDir, "allocations.json");
    try {
      writeAllocationState(path, this.active.allocation.state, this.options.version);
    } catch (error) {
      this.log.log("warn", "stateFile", `cannot write ${path}: ${(error as Error).message}`);
    }
  }

  private recordConfigMetrics(): void {
    this.metrics.configLoaded.set(1);
    this.metrics.configStale.set(this.stale ? 1 : 0);
    this.metrics.configLastReload.set(this.active.loadedAt.getTime() / 1000);
    this.metrics.allocationErrors.set(this.active.allocation.errors.length);
    this.metrics.poolAddresses.reset();
    this.metrics.poolAddressesInUse.reset();
    for (const p of this.active.allocation.pools) {
      this.metrics.poolAddresses.set({ pool: p.pool }, p.ipv4.total + p.ipv6.total);
      this.metrics.poolAddressesInUse.set({ pool: p.pool }, p.ipv4.inUse + p.ipv6.inUse);
    }
  }

  /** Logs the services whose IPs are new or changed since `before` (all of them at start-up). */
  private logAllocation(before?: AllocationResult): void {
    const previous = new Map(before?.assignments.map((a) => [a.service, a.ips.join(",")]));
    for (const a of this.active.allocation.assignments) {
      if (previous.get(a.service) === a.ips.join(",")) continue;
      this.log.log("info", "IPAllocated", `Assigned IP [${a.ips.map((ip) => `"${ip}"`).join(" ")}]`, {
        service: a.service,
        pool: a.pool,
      });
    }
    for (const e of this.active.allocation.errors) {
      this.log.log("warn", "AllocationFailed", `Failed to allocate IP for "${e.service}": ${e.message}`, {
        service: e.service,
      });
    }
  }

  /**
   * Key rotation without restarts: the file's keys replace the running ones in place (new keys added, the
   * first line made primary, keys no longer listed dropped). A bad file keeps the running keys.
   */
  private reloadKeyring(): void {
    const keyFile = this.settings.cluster.keyFile;
    if (!this.keyring || keyFile === null) return;
    try {
      const wanted = parseKeyring(readFileSync(keyFile, "utf8")).list();
      for (const key of wanted) this.keyring.addKey(key);
      this.keyring.useKey(wanted[0] ?? "");
      for (const key of this.keyring.list()) if (!wanted.includes(key)) this.keyring.removeKey(key);
      this.memberlist.setKeys(this.keyring.list());
      this.event("keyringReloaded", `gossip keyring reloaded: ${wanted.length} key(s)`);
    } catch (error) {
      this.log.log(
        "error",
        "keyringInvalid",
        `${keyFile}: ${(error as Error).message}; keeping the running keys`,
      );
    }
  }

  private readKeyring(): Keyring | undefined {
    const keyFile = this.settings.cluster.keyFile;
    if (keyFile === null) {
      if (!this.options.insecure) throw new Error(NO_KEY_MESSAGE);
      this.log.log("warn", "insecureGossip", INSECURE_WARNING);
      return undefined;
    }
    return parseKeyring(readFileSync(keyFile, "utf8"));
  }

  // ---- metrics and events ----------------------------------------------------------------------

  private announcedMetric(desired: ReadonlyMap<string, string>): void {
    // Rebuilt only when the held set or the config changed: thousands of labelled series per tick otherwise.
    if (this.announcedFor?.active === this.active && sameEntries(this.announcedFor.desired, desired)) return;
    this.announcedFor = { active: this.active, desired };
    this.metrics.announced.reset();
    for (const group of this.active.groups) {
      for (const ip of group.ips) {
        const itf = desired.get(ip);
        if (itf === undefined) continue;
        for (const service of group.services) {
          this.metrics.announced.set({ service, ip, node: this.nodeName, interface: itf }, 1);
        }
      }
    }
  }

  private countMembers(members: readonly MemberView[]): void {
    this.metrics.members.reset();
    for (const state of ["alive", "suspect", "dead", "left"] as const) {
      this.metrics.members.set({ state }, members.filter((m) => m.state === state).length);
    }
    this.metrics.configMismatch.reset();
    for (const m of members) {
      if (m.metadata && m.metadata.manifestDigest !== this.active.load.digest) {
        this.metrics.configMismatch.set({ node: m.name }, 1);
      }
    }
    this.syncGossipCounters(this.memberlist.stats());
    this.syncFrameCounters();
  }

  /** Every frame the announcer handed to the kernel, all rounds included, by interface. */
  private syncFrameCounters(): void {
    this.metrics.gratuitousQueued.set(this.announcer.queuedFrames());
    const errors = this.announcer.sendErrors;
    const errorDelta = errors - (this.syncedCounters.get("frame-errors") ?? 0);
    if (errorDelta > 0) this.metrics.gratuitousErrors.inc(errorDelta);
    this.syncedCounters.set("frame-errors", errors);
    for (const c of this.announcer.frameTotals()) {
      const key = `frames/${c.interface}/${c.kind}`;
      const delta = c.count - (this.syncedCounters.get(key) ?? 0);
      if (delta > 0) this.metrics.gratuitousSent.inc({ interface: c.interface }, delta);
      this.syncedCounters.set(key, c.count);
    }
  }

  /** prom-client counters only go up by increments: add what the gossip layer counted since last time. */
  private syncGossipCounters(stats: GossipStats): void {
    const add = (key: string, value: number, inc: (delta: number) => void): void => {
      const delta = value - (this.syncedCounters.get(key) ?? 0);
      if (delta > 0) inc(delta);
      this.syncedCounters.set(key, value);
    };
    for (const [direction, counts] of [
      ["in", stats.messagesIn],
      ["out", stats.messagesOut],
    ] as const) {
      for (const [type, value] of Object.entries(counts)) {
        add(`${direction}/${type}`, value, (d) => this.metrics.gossipPackets.inc({ direction, type }, d));
      }
    }
    for (const [reason, value] of Object.entries(stats.rejected)) {
      add(`rejected/${reason}`, value, (d) => this.metrics.gossipRejected.inc({ reason }, d));
    }
    add("membersRefused", stats.membersRefused, (d) => this.metrics.gossipMembersRefused.inc(d));
    if (stats.protocolVersion > 0)
      this.metrics.gossipVersion.set({ kind: "protocol" }, stats.protocolVersion);
    if (stats.metadataVersion > 0)
      this.metrics.gossipVersion.set({ kind: "metadata" }, stats.metadataVersion);
  }

  /** This node's release and versions: the ranges of this build, speaking what the gossip thread negotiated. */
  private ownVersion(): Pick<StatusMember, "version" | "versions"> {
    const stats = this.memberlist.stats();
    return {
      version: this.options.version,
      versions: {
        protocol: { ...PROTOCOL_RANGE, current: stats.protocolVersion || PROTOCOL_RANGE.max },
        metadata: { ...METADATA_RANGE, current: stats.metadataVersion || METADATA_RANGE.max },
      },
    };
  }

  private event(
    reason: string,
    message: string,
    fields: Readonly<Record<string, string | undefined>> = {},
    service?: string,
    ip?: string,
  ): void {
    this.log.log(eventLevel(reason), reason, message, fields);
    this.events.push({
      time: new Date().toISOString(),
      reason,
      message,
      ...(service ? { service } : {}),
      ...(ip ? { ip } : {}),
    });
    if (this.events.length > MAX_EVENTS) this.events.shift();
  }
}

/** Size and mtime of every manifest file: cheap to compute every tick, changes with any write. */
function manifestSignature(paths: readonly string[]): string {
  return expandPaths(paths, [])
    .map((file) => {
      try {
        const st = statSync(file);
        return `${file}:${st.size}:${st.mtimeMs}`;
      } catch {
        return `${file}:missing`;
      }
    })
    .join("|");
}

const ELIGIBLE: EligibilityReport = Object.freeze({ eligible: true });

/** A peer's gossiped eligibility as ip -> report, built once per received metadata record. */
const peerReportCache = new WeakMap<MemberMetadata, ReadonlyMap<string, EligibilityReport>>();
function peerReports(meta: MemberMetadata): ReadonlyMap<string, EligibilityReport> {
  let reports = peerReportCache.get(meta);
  if (!reports) {
    const map = new Map<string, EligibilityReport>();
    for (const ip of meta.eligibility.eligible) map.set(ip, ELIGIBLE);
    for (const x of meta.eligibility.ineligible) map.set(x.vip, { eligible: false, reason: x.reason });
    peerReportCache.set(meta, map);
    reports = map;
  }
  return reports;
}

function sameEntries(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const k of a.keys()) if (b.get(k) !== a.get(k)) return false;
  return true;
}

const NO_CLAIMS: readonly string[] = Object.freeze([]);

function sameAsLists(
  map: ReadonlyMap<string, string>,
  keys: readonly string[],
  values: readonly string[],
): boolean {
  if (map.size !== keys.length) return false;
  for (let i = 0; i < keys.length; i++) if (map.get(keys[i] ?? "") !== values[i]) return false;
  return true;
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameRecord(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) if (a[k] !== b[k]) return false;
  return true;
}

/** What publishMetadata would gossip is unchanged (the allocation table by digest). */
function sameMetadata(a: MemberMetadata, b: MemberMetadata): boolean {
  return (
    a.manifestDigest === b.manifestDigest &&
    sameRecord(a.labels, b.labels) &&
    a.allocation?.digest === b.allocation?.digest &&
    sameList(a.eligibility.eligible, b.eligibility.eligible) &&
    a.eligibility.ineligible.length === b.eligibility.ineligible.length &&
    a.eligibility.ineligible.every(
      (x, i) =>
        x.vip === b.eligibility.ineligible[i]?.vip && x.reason === b.eligibility.ineligible[i]?.reason,
    ) &&
    sameRecord(a.eligibility.interfaces ?? {}, b.eligibility.interfaces ?? {}) &&
    sameList(a.owned ?? [], b.owned ?? []) &&
    sameList(a.macs ?? [], b.macs ?? []) &&
    sameList(a.released ?? [], b.released ?? [])
  );
}

function sameElection(a: ElectionResult, b: ElectionResult): boolean {
  return (
    a.owner === b.owner &&
    a.reason === b.reason &&
    sameList(a.interfaces, b.interfaces) &&
    a.ranking.length === b.ranking.length &&
    a.ranking.every((v, i) => {
      const w = b.ranking[i];
      return (
        w !== undefined &&
        v.node === w.node &&
        v.score === w.score &&
        v.hash === w.hash &&
        v.skipped === w.skipped
      );
    })
  );
}

/** A member's release and gossip versions for `vipd status` (unknown until its metadata arrived). */
function memberVersion(m: MemberView): Pick<StatusMember, "version" | "versions"> {
  const v = m.versions;
  if (!v) return {};
  return {
    version: v.build,
    versions: { protocol: { ...v.protocol }, metadata: { ...v.metadata } },
  };
}
