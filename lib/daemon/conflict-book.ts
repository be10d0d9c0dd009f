// What the RFC 5227 side has found: foreign devices answering for IPs this node would take (found by a
// probe), foreign devices claiming IPs it holds (heard on the wire), probes in flight and recent clean
// probes. Bookkeeping only: the planner decides what to do about it (lib/plan/planner.ts).
import type { ConflictView, ForeignConflict } from "../plan/types";

/** A foreign claim on an IP this node holds stays in the status this long after its last frame. */
export const HELD_CONFLICT_SHOWN_MS = 60_000;

export interface HeldConflict {
  readonly mac: string;
  readonly since: Date;
  lastSeen: number;
}

export class ConflictBook implements ConflictView {
  readonly foreign = new Map<string, ForeignConflict>();
  /** ip -> a foreign device claiming an IP this node holds. */
  readonly held = new Map<string, HeldConflict>();
  private readonly probing = new Set<string>();
  private readonly clearAt = new Map<string, number>();

  isProbing(ip: string): boolean {
    return this.probing.has(ip);
  }

  /** How many probes are in flight. */
  get probingCount(): number {
    return this.probing.size;
  }

  probedClearAt(ip: string): number | undefined {
    return this.clearAt.get(ip);
  }

  probeStarted(ip: string): void {
    this.probing.add(ip);
  }

  /** A probe could not run: the IP counts as clear (not being able to probe must not keep a VIP down). */
  probeFailed(ip: string, now: number): void {
    this.probing.delete(ip);
    this.clearAt.set(ip, now);
  }

  /** A probe found `mac` answering; returns the conflict recorded before, if any. */
  probeFoundForeign(
    ip: string,
    mac: string,
    now: number,
    wallTime: number,
    reprobeMs: number,
  ): ForeignConflict | undefined {
    this.probing.delete(ip);
    const previous = this.foreign.get(ip);
    this.foreign.set(ip, {
      mac,
      since: previous?.mac === mac ? previous.since : new Date(wallTime),
      nextProbeAt: now + reprobeMs,
    });
    return previous;
  }

  /** A probe found nobody; returns the conflict it resolves, if any. */
  probeFoundClear(ip: string, now: number): ForeignConflict | undefined {
    this.probing.delete(ip);
    this.clearAt.set(ip, now);
    const previous = this.foreign.get(ip);
    if (previous) this.foreign.delete(ip);
    return previous;
  }

  /** A probe that ended after shutdown began: only forget that it runs. */
  probeAbandoned(ip: string): void {
    this.probing.delete(ip);
  }

  /** Conflicts on IPs the config no longer has are dropped. */
  forgetUnconfigured(configured: ReadonlyMap<string, unknown>): void {
    for (const ip of this.foreign.keys()) if (!configured.has(ip)) this.foreign.delete(ip);
  }

  /** Records a foreign claim on a held IP; true when it is new (another device, or none before). */
  heldClaim(ip: string, mac: string, now: number, wallTime: number): boolean {
    const known = this.held.get(ip);
    if (known?.mac === mac) {
      known.lastSeen = now;
      return false;
    }
    this.held.set(ip, { mac, since: new Date(wallTime), lastSeen: now });
    return true;
  }

  /** Held-IP conflicts are shown while the IP is held and the device was heard recently. */
  forgetHeld(held: ReadonlyMap<string, string>, now: number): void {
    for (const [ip, c] of this.held)
      if (!held.has(ip) || now - c.lastSeen > HELD_CONFLICT_SHOWN_MS) this.held.delete(ip);
  }
}
