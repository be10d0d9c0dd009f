// Probes that start as soon as a reload brings in new VIPs, before their election. A new VIP is probed
// before it is taken (planner.ts mustProbe), and the election that picks its owner runs in the step after
// the load: with the probe started only then, the write -> GARP path was load, then that whole step (30 ms
// on a quiet host, up to 200 ms with three nodes reloading 1,000 services on two cores), then the probe's
// 100 ms. Started at the load, the probe runs during the step: a clean verdict lets the step that elects
// this node take the IP at once (a clean probe is valid for PROBE_RESULT_VALID_MS), or is taken the moment
// it arrives (cleared-takeover.ts).
//
// Every node that could hold a new VIP probes it, since the owner is not known yet: the others' probes are
// a few ARP or NS frames, and a member's probe is never a conflict (probe-runner.ts tells members' MACs
// from foreign ones). So it is kept to small edits. Pure.
import type { LinkView } from "./types";

/**
 * At most this many new VIPs are probed early; an edit that brings more takes the usual path (probes
 * after the election, by the owner only), so that a large edit does not have every node probe thousands
 * of VIPs most of which it will not hold.
 */
export const EARLY_PROBES_MAX = 32;

export interface EarlyProbeFacts {
  /** Whether this node probes before taking a VIP at all (cluster.arpProbeMs > 0). */
  readonly probeBeforeTakeover: boolean;
  /** Whether this node takes part in elections now: ready, with quorum, not stopping. */
  readonly electing: boolean;
  /** Every VIP of the config before the reload (its groupByIp). */
  readonly before: ReadonlyMap<string, unknown>;
  /** Every VIP of the reloaded config. */
  readonly after: ReadonlyMap<string, unknown>;
  /** The addresses this node holds or is adding. */
  readonly held: ReadonlyMap<string, string>;
  /** This node's interface choice per VIP, for the reloaded config. */
  readonly links: LinkView;
}

export interface EarlyProbe {
  readonly ip: string;
  readonly interfaces: readonly string[];
}

/** The new VIPs of a reload this node could hold, to probe now (none past EARLY_PROBES_MAX). */
export function earlyProbes(facts: EarlyProbeFacts): EarlyProbe[] {
  if (!facts.probeBeforeTakeover || !facts.electing) return [];
  const probes: EarlyProbe[] = [];
  for (const ip of facts.after.keys()) {
    if (facts.before.has(ip) || facts.held.has(ip)) continue;
    const choice = facts.links.choice(ip);
    if (!choice?.eligible) continue;
    if (probes.length === EARLY_PROBES_MAX) return [];
    probes.push({ ip, interfaces: choice.interfaces });
  }
  return probes;
}
