// Prometheus metrics. Names follow MetalLB's where one exists (allocator_*, config_*_bool, announced),
// under the `vipd_` namespace. One registry per daemon so tests can run several in one process.
import type * as Prom from "prom-client";
import { buildInfo, type BuildInfo } from "./build-info";

// prom-client's index also loads its Pushgateway (node:http's client side, node:https, node:url, zlib), its
// cluster aggregator (node:cluster) and Summary (tdigest), none of which vipd uses: 20-50 ms of every
// start-up's CPU on this 2-core host (the bundled index against these files, measured alone). The package has
// no `exports` map, so its lib/ files are reachable; the types still come from its index.
const Registry = require("prom-client/lib/registry") as typeof Prom.Registry;
const Counter = require("prom-client/lib/counter") as typeof Prom.Counter;
const Gauge = require("prom-client/lib/gauge") as typeof Prom.Gauge;
const Histogram = require("prom-client/lib/histogram") as typeof Prom.Histogram;
const collectDefaultMetrics = require("prom-client/lib/defaultMetrics") as typeof Prom.collectDefaultMetrics;
type Registry = Prom.Registry;
type Counter<T extends string = string> = Prom.Counter<T>;
type Gauge<T extends string = string> = Prom.Gauge<T>;
type Histogram<T extends string = string> = Prom.Histogram<T>;

/**
 * prom-client's process metrics that `promtool check metrics` rejects: gauges named `_total`. Each is the sum
 * of the per-type gauge of the same name without `_total` (nodejs_active_handles{type}, ...), so dropping them
 * loses nothing: `sum(nodejs_active_handles)` gives the same number.
 */
const NON_COUNTER_TOTALS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

/**
 * Work done when /metrics is scraped rather than on every change: `announced` rebuilds vipd_announced and
 * vipd_vips_not_held (10,000 labelled series at scale) from the daemon's state at that moment.
 */
export interface ScrapeHooks {
  announced?: () => void;
}

export interface Metrics {
  readonly registry: Registry;
  readonly scrapeHooks: ScrapeHooks;
  readonly announced: Gauge<"service" | "ip" | "node" | "interface">;
  readonly gratuitousSent: Counter<"interface">;
  readonly gratuitousErrors: Counter;
  readonly gratuitousQueued: Gauge;
  readonly ownershipChanges: Counter;
  readonly poolAddresses: Gauge<"pool">;
  readonly poolAddressesInUse: Gauge<"pool">;
  readonly members: Gauge<"state">;
  readonly gossipPackets: Counter<"direction" | "type">;
  readonly gossipRejected: Counter<"reason">;
  readonly gossipMembersRefused: Counter;
  readonly gossipVersion: Gauge<"kind">;
  readonly configLoaded: Gauge;
  readonly configStale: Gauge;
  readonly configLastReload: Gauge;
  readonly configMismatch: Gauge<"node">;
  readonly failoverSeconds: Histogram;
  readonly allocationErrors: Gauge;
  readonly healthCheckUp: Gauge<"service">;
  readonly quorum: Gauge;
  readonly addressConflicts: Counter<"ip">;
  readonly localHealth: Gauge;
  readonly addressDivergences: Counter<"reason">;
  readonly vipsNotHeld: Gauge;
  readonly buildInfo: Gauge<"version" | "revision" | "nodejs">;
}

/**
 * How often the nodejs_eventloop_lag_* histogram samples the main loop. prom-client's default, 10 ms, is a
 * timer waking the main thread 100 times a second: on this machine more CPU than all of the daemon's own
 * main-thread work at 1,000 VIPs. Every 100 ms still catches each stall of 100 ms or more (the reconcile
 * stalls worth seeing), at a tenth of the wake-ups.
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

export function createMetrics(build: BuildInfo = buildInfo()): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  for (const name of NON_COUNTER_TOTALS) registry.removeSingleMetric(name);
  const registers = [registry];
  const scrapeHooks: ScrapeHooks = {};
  const info = new Gauge({
    name: "vipd_build_info",
    help: "Always 1; the labels say which vipd runs here: version, revision (git commit) and Node.js version",
    labelNames: ["version", "revision", "nodejs"],
    registers,
  });
  info.set({ version: build.version, revision: build.revision, nodejs: process.versions.node }, 1);
  return {
    buildInfo: info,
    registry,
    scrapeHooks,
    // Collected at scrape time: rebuilt after every kernel change, it was 8-14 % of a surviving node's main
    // thread during a 10,000-VIP takeover (cpu-prof), for series nobody read until the next scrape.
    announced: new Gauge({
      name: "vipd_announced",
      help: "1 for each (service, ip) this node announces, on the interface it announces it on",
      labelNames: ["service", "ip", "node", "interface"],
      registers,
      collect: () => scrapeHooks.announced?.(),
    }),
    // Per interface, not per IP: an ip label made one series per VIP (10,000 at scale), retained for the
    // process lifetime and ~1 MB of /metrics text per scrape. Which IPs were announced is in the log
    // (addressAdded, reannounce) and `vipd status`.
    gratuitousSent: new Counter({
      name: "vipd_gratuitous_sent_total",
      help: "Gratuitous ARP frames and unsolicited Neighbor Advertisements sent, by interface",
      labelNames: ["interface"],
      registers,
    }),
    gratuitousErrors: new Counter({
      name: "vipd_gratuitous_errors_total",
      help: "Gratuitous ARP frames and Neighbor Advertisements the kernel refused (lost, not retried)",
      registers,
    }),
    gratuitousQueued: new Gauge({
      name: "vipd_gratuitous_queued",
      help: "Gratuitous ARP frames and Neighbor Advertisements waiting to be sent (pacing, socket backlog)",
      registers,
    }),
    // One aggregate series, for the same reason as vipd_gratuitous_sent_total: per-IP series grow with the
    // VIP count and never go away. The IP of each change is in the nodeAssigned/announceWithdrawn events.
    ownershipChanges: new Counter({
      name: "vipd_ownership_changes_total",
      help: "Owner changes of VIPs as seen by this node, summed over all IPs (a group of n IPs counts n)",
      registers,
    }),
    poolAddresses: new Gauge({
      // MetalLB calls these metallb_allocator_addresses_total and ..._in_use_total, but they are gauges, and
      // `_total` is reserved for counters (promtool check metrics rejects it).
      name: "vipd_allocator_addresses",
      help: "Usable addresses in the pool",
      labelNames: ["pool"],
      registers,
    }),
    poolAddressesInUse: new Gauge({
      name: "vipd_allocator_addresses_in_use",
      help: "Distinct addresses of the pool assigned to services",
      labelNames: ["pool"],
      registers,
    }),
    members: new Gauge({
      name: "vipd_members",
      help: "Cluster members by state, as seen by this node",
      labelNames: ["state"],
      registers,
    }),
    gossipPackets: new Counter({
      name: "vipd_gossip_packets_total",
      help: "Gossip packets by direction and message type",
      labelNames: ["direction", "type"],
      registers,
    }),
    gossipRejected: new Counter({
      name: "vipd_gossip_rejected_total",
      help: "Gossip packets dropped, by reason",
      labelNames: ["reason"],
      registers,
    }),
    gossipMembersRefused: new Counter({
      name: "vipd_gossip_members_refused_total",
      help: "Members refused because their gossip protocol or metadata version range does not overlap this node's",
      registers,
    }),
    gossipVersion: new Gauge({
      name: "vipd_gossip_version",
      help: "Version this node speaks now (the highest every live member understands), by kind: protocol or metadata",
      labelNames: ["kind"],
      registers,
    }),
    configLoaded: new Gauge({
      name: "vipd_config_loaded_bool",
      help: "1 once a config has loaded successfully",
      registers,
    }),
    configStale: new Gauge({
      name: "vipd_config_stale_bool",
      help: "1 while the latest config on disk failed to load and the previous one is still in force",
      registers,
    }),
    configLastReload: new Gauge({
      name: "vipd_config_last_reload_timestamp_seconds",
      help: "Time of the last successful config load",
      registers,
    }),
    configMismatch: new Gauge({
      name: "vipd_config_mismatch_bool",
      help: "1 for each member whose manifest digest differs from this node's",
      labelNames: ["node"],
      registers,
    }),
    failoverSeconds: new Histogram({
      name: "vipd_failover_seconds",
      help:
        "Failover time seen by this node: from the failed owner's last sign of life (the last packet this node " +
        "heard from it; its leave message for a graceful stop) to this node's first gratuitous ARP/NA for the " +
        "VIP, so failure detection is included",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    allocationErrors: new Gauge({
      name: "vipd_allocation_errors",
      help: "Services that could not be given an IP",
      registers,
    }),
    healthCheckUp: new Gauge({
      name: "vipd_health_check_up",
      help: "1 while the service's health check passes on this node, 0 while it fails (pending: absent)",
      labelNames: ["service"],
      registers,
    }),
    quorum: new Gauge({
      name: "vipd_quorum_bool",
      help: "1 while this node may hold VIPs under cluster.quorum (always 1 with quorum: none)",
      registers,
    }),
    addressConflicts: new Counter({
      name: "vipd_address_conflicts_total",
      help: "Times a device that is not a cluster member was found answering for a VIP (probe or while owning)",
      labelNames: ["ip"],
      registers,
    }),
    localHealth: new Gauge({
      name: "vipd_gossip_local_health_score",
      help: "Lifeguard local-health score (0 healthy, up to 7): gossip timeouts on this node are stretched by score + 1",
      registers,
    }),
    addressDivergences: new Counter({
      name: "vipd_address_divergences_total",
      help: "Times a VIP this node should hold was found not in its kernel, by reason: the add's errno (EPERM, ETIMEDOUT), no_interface, or deleted (removed by someone else, then repaired)",
      labelNames: ["reason"],
      registers,
    }),
    vipsNotHeld: new Gauge({
      name: "vipd_vips_not_held",
      help: "VIP addresses this node won in the election (intended) that its kernel does not hold right now (observed)",
      registers,
      collect: () => scrapeHooks.announced?.(),
    }),
  };
}
