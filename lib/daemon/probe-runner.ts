// Runs the RFC 5227 probes the plan asks for and records what they find in the conflict book. A foreign
// device found on an IP makes it ineligible here (the planner reads the book) and is probed again every
// `conflictReprobeMs`; a clean probe lets the very next step take the IP.
import type { AnnounceInterface } from "../net/announcer";
import { conflictReason, type ClaimOrigin } from "../net/arp-conflict";
import { ArpListener } from "../net/arp-listener";
import { ConflictMonitor, type ObservedClaim } from "../net/conflict-monitor";
import { NaListener } from "../net/na-listener";
import { PacketSocket } from "../net/packet-socket";
import type { ConflictBook } from "./conflict-book";
import type { Logger } from "./log";

export interface ProbeEdges {
  readonly monitor: ConflictMonitor;
  readonly book: ConflictBook;
  readonly log: Logger;
  readonly reprobeMs: number;
  interfacesFor(names: readonly string[]): AnnounceInterface[];
  /** Who owns a MAC: this node, a member, or a foreign device. */
  originOf(mac: string): ClaimOrigin;
  electionIpOf(ip: string): string | undefined;
  conflictCounted(ip: string): void;
  event(reason: string, message: string, fields: Record<string, string>, ip?: string): void;
  /** Asks for a step soon (a probe result is an input). */
  stepSoon(): void;
  /** A probe found nobody on `ip` (before the step it asks for). */
  cleared?(ip: string): void;
  stopping(): boolean;
}

/** The conflict monitor on the kernel: ARP read and probes sent over AF_PACKET, NAs read over ICMPv6. */
export function kernelConflictMonitor(probeMs: number): ConflictMonitor {
  return new ConflictMonitor(
    () => new ArpListener(),
    () => new PacketSocket(),
    // Read from the daemon's pulse (readPending), which wakes its main thread for all periodic work at once.
    { probeMs, pollMs: 0 },
    undefined,
    () => new NaListener(),
  );
}

/** Why a probe runs: a VIP about to be taken or a foreign conflict due again (the plan), or a reload's new VIP. */
export type ProbeCause = "plan" | "early";

export class ProbeRunner {
  constructor(private readonly edges: ProbeEdges) {}

  start(ip: string, interfaces: readonly string[], cause: ProbeCause = "plan"): void {
    const { book, monitor } = this.edges;
    if (book.isProbing(ip) || this.edges.stopping()) return;
    book.probeStarted(ip);
    const started = performance.now();
    monitor.probe(ip, this.edges.interfacesFor(interfaces)).then(
      (claims) => this.done(ip, claims, performance.now() - started, cause),
      (error: unknown) => {
        // Not being able to probe must not keep a VIP down: take it, and say why there was no probe.
        const message = `${ip}: ${(error as Error).message}; taking it unprobed`;
        this.edges.log.log("warn", "probeFailed", message, { ip });
        book.probeFailed(ip, performance.now());
        this.edges.stepSoon();
      },
    );
  }

  private done(ip: string, claims: readonly ObservedClaim[], elapsedMs: number, cause: ProbeCause): void {
    const { book, reprobeMs } = this.edges;
    if (this.edges.stopping()) {
      book.probeAbandoned(ip);
      return;
    }
    const foreign = claims.find((c) => this.edges.originOf(c.mac).kind === "foreign");
    const electionIp = this.edges.electionIpOf(ip);
    if (foreign) {
      const previous = book.probeFoundForeign(ip, foreign.mac, performance.now(), Date.now(), reprobeMs);
      // Re-probe on time, not on the next 1 s tick.
      setTimeout(() => this.edges.stepSoon(), reprobeMs + 1).unref();
      if (previous?.mac !== foreign.mac) {
        this.edges.conflictCounted(ip);
        this.edges.event(
          "addressConflict",
          `${conflictReason(ip, foreign.mac)}: not taking it, probing again every ${reprobeMs / 1000} s`,
          { ip, mac: foreign.mac },
          electionIp,
        );
      }
    } else {
      const previous = book.probeFoundClear(ip, performance.now());
      if (previous) {
        this.edges.event(
          "addressConflictResolved",
          `${ip}: ${previous.mac} no longer answers for it, this node may take it`,
          { ip, mac: previous.mac },
          electionIp,
        );
      }
    }
    // An early probe runs on every node that could hold the VIP: said, so that one on a node that then does
    // not take it reads as what it is.
    const early = cause === "early" ? " (probed early: new in the reloaded config)" : "";
    this.edges.log.log("info", "arpProbe", `${ip}: ${foreign ? `held by ${foreign.mac}` : "free"}${early}`, {
      ip,
      ms: elapsedMs.toFixed(1),
    });
    if (!foreign) this.edges.cleared?.(ip);
    this.edges.stepSoon();
  }
}
