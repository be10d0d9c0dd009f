// Prometheus bookkeeping: turns what the daemon knows (config, plan, members, frame and gossip counters)
// into the metrics of lib/daemon/metrics.ts. No decisions here; rebuilding thousands of labelled series is
// skipped when their inputs did not change.
import type { VipGroup } from "../election/election";
import type { MemberView } from "../gossip/memberlist";
import type { GossipStats } from "../gossip/stats";
import type { HealthEntry } from "../health/monitor";
import type { FrameTotal } from "../net/announcer";
import type { ActiveConfig } from "./config-state";
import type { Metrics } from "./metrics";

/** Frame counters as the announcer and the kernel transport keep them. */
export interface FrameCounts {
  readonly queued: number;
  readonly errors: number;
  readonly totals: Iterable<FrameTotal>;
}

/** What vipd_announced is computed from: the config, the intended (ip -> interface) set, the kernel's view. */
export interface AnnouncedSource {
  readonly active: ActiveConfig;
  readonly intended: ReadonlyMap<string, string>;
  readonly observed: (ip: string) => boolean;
}

export class Telemetry {
  /** Counter values already added to prom-client, by source key (gossip stats, announcer frames). */
  private readonly synced = new Map<string, number>();
  /** The inputs of the last `vipd_announced` rebuild: the config and the observed (ip -> interface) set. */
  private announcedFor: { active: ActiveConfig; held: Map<string, string> } | undefined;
  /** Divergences ("ip|reason") already counted in vipd_address_divergences_total, while they last. */
  private readonly countedDivergences = new Set<string>();

  constructor(
    readonly metrics: Metrics,
    private readonly nodeName: string,
  ) {}

  config(active: ActiveConfig, stale: boolean): void {
    const m = this.metrics;
    m.configLoaded.set(1);
    m.configStale.set(stale ? 1 : 0);
    m.configLastReload.set(active.loadedAt.getTime() / 1000);
    m.allocationErrors.set(active.allocation.errors.length);
    m.poolAddresses.reset();
    m.poolAddressesInUse.reset();
    for (const p of active.allocation.pools) {
      m.poolAddresses.set({ pool: p.pool }, p.ipv4.total + p.ipv6.total);
      m.poolAddressesInUse.set({ pool: p.pool }, p.ipv4.inUse + p.ipv6.inUse);
    }
  }

  stale(): void {
    this.metrics.configStale.set(1);
  }

  quorum(ok: boolean): void {
    this.metrics.quorum.set(ok ? 1 : 0);
  }

  ownerChanged(group: VipGroup): void {
    this.metrics.ownershipChanges.inc(group.ips.length);
  }

  failover(seconds: number): void {
    this.metrics.failoverSeconds.observe(seconds);
  }

  addressConflict(ip: string): void {
    this.metrics.addressConflicts.inc({ ip });
  }

  localHealth(score: number): void {
    this.metrics.localHealth.set(score);
  }

  healthCheck(entry: HealthEntry): void {
    if (entry.state.status === "pending") this.metrics.healthCheckUp.remove({ service: entry.service });
    else this.metrics.healthCheckUp.set({ service: entry.service }, entry.state.status === "up" ? 1 : 0);
  }

  healthChecks(entries: readonly HealthEntry[]): void {
    this.metrics.healthCheckUp.reset();
    for (const entry of entries) this.healthCheck(entry);
  }

  /**
   * `vipd_announced`: one series per (service, ip) this node should hold (`intended`) and its kernel holds
   * (`observed`), so the metric never claims a VIP that is dark; `vipd_vips_not_held`: the rest. Computed
   * when /metrics is scraped, from `source` at that moment.
   */
  announcedFrom(source: () => AnnouncedSource): void {
    this.metrics.scrapeHooks.announced = () => this.announced(source());
  }

  private announced({ active, intended, observed }: AnnouncedSource): void {
    // Compared without building a map, and rebuilt only when the held set or the config changed.
    const previous = this.announcedFor;
    let same = previous?.active === active;
    let count = 0;
    for (const [ip, itf] of intended) {
      if (!observed(ip)) continue;
      count++;
      if (same && previous?.held.get(ip) !== itf) same = false;
    }
    this.metrics.vipsNotHeld.set(intended.size - count);
    if (same && count === previous?.held.size) return;
    const held = new Map<string, string>();
    for (const [ip, itf] of intended) if (observed(ip)) held.set(ip, itf);
    this.announcedFor = { active, held };
    this.metrics.announced.reset();
    for (const group of active.groups) {
      for (const ip of group.ips) {
        const itf = held.get(ip);
        if (itf === undefined) continue;
        for (const service of group.services) {
          this.metrics.announced.set({ service, ip, node: this.nodeName, interface: itf }, 1);
        }
      }
    }
  }

  /**
   * Counts each divergence once while it lasts, by reason: an add's errno, no_interface; `missing` (an add in
   * flight) is not counted, an external delete is counted as `deleted` by addressDeleted().
   */
  divergences(current: readonly { ip: string; reason: string }[]): void {
    if (current.length === 0 && this.countedDivergences.size === 0) return;
    const keys = new Set<string>();
    for (const d of current) {
      if (d.reason === "missing") continue;
      const key = `${d.ip}|${d.reason}`;
      keys.add(key);
      if (this.countedDivergences.has(key)) continue;
      this.countedDivergences.add(key);
      const errno = /^add failed: (\S+)/.exec(d.reason)?.[1];
      this.metrics.addressDivergences.inc({ reason: errno ?? "no_interface" });
    }
    for (const key of this.countedDivergences) if (!keys.has(key)) this.countedDivergences.delete(key);
  }

  /** A held VIP someone else removed from the kernel (repaired at once). */
  addressDeleted(): void {
    this.metrics.addressDivergences.inc({ reason: "deleted" });
  }

  members(members: readonly MemberView[], digest: string, gossip: GossipStats, frames: FrameCounts): void {
    const m = this.metrics;
    m.members.reset();
    for (const state of ["alive", "suspect", "dead", "left"] as const) {
      m.members.set({ state }, members.filter((x) => x.state === state).length);
    }
    m.configMismatch.reset();
    for (const x of members) {
      if (x.metadata && x.metadata.manifestDigest !== digest) m.configMismatch.set({ node: x.name }, 1);
    }
    this.gossipCounters(gossip);
    this.frameCounters(frames);
  }

  /** Every frame the announcer handed to the kernel, all rounds included, by interface. */
  private frameCounters(frames: FrameCounts): void {
    this.metrics.gratuitousQueued.set(frames.queued);
    this.add("frame-errors", frames.errors, (d) => this.metrics.gratuitousErrors.inc(d));
    for (const c of frames.totals) {
      this.add(`frames/${c.interface}/${c.kind}`, c.count, (d) =>
        this.metrics.gratuitousSent.inc({ interface: c.interface }, d),
      );
    }
  }

  /** prom-client counters only go up by increments: add what the gossip layer counted since last time. */
  private gossipCounters(stats: GossipStats): void {
    for (const [direction, counts] of [
      ["in", stats.messagesIn],
      ["out", stats.messagesOut],
    ] as const) {
      for (const [type, value] of Object.entries(counts)) {
        this.add(`${direction}/${type}`, value, (d) =>
          this.metrics.gossipPackets.inc({ direction, type }, d),
        );
      }
    }
    for (const [reason, value] of Object.entries(stats.rejected)) {
      this.add(`rejected/${reason}`, value, (d) => this.metrics.gossipRejected.inc({ reason }, d));
    }
    this.add("membersRefused", stats.membersRefused, (d) => this.metrics.gossipMembersRefused.inc(d));
    if (stats.protocolVersion > 0)
      this.metrics.gossipVersion.set({ kind: "protocol" }, stats.protocolVersion);
    if (stats.metadataVersion > 0)
      this.metrics.gossipVersion.set({ kind: "metadata" }, stats.metadataVersion);
  }

  private add(key: string, value: number, inc: (delta: number) => void): void {
    const delta = value - (this.synced.get(key) ?? 0);
    if (delta > 0) inc(delta);
    this.synced.set(key, value);
  }
}
