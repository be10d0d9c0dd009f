// Which VIPs this node cannot hold, and when to try again: part of the planner's memory. Pure: the caller
// passes the time in.
//
// A VIP whose add keeps failing (EPERM, EACCES from a link with IPv6 disabled, a timeout, any cause) is
// marked here after `threshold` failed attempts in a row; this node then reports itself ineligible for it in
// its gossiped metadata (the existing `ineligible` list, no new wire field, so 0.1.0 peers read it too), and a
// peer takes it over. EPERM is node-wide: without CAP_NET_ADMIN no add can succeed, so every VIP is given up
// at once and the node reports not-ready. Eligibility comes back by itself: a marked VIP is tried again (add,
// then remove at once) after a backoff, and the first success clears it.
import type { AddressDivergence } from "./types";

/** What eligibility and the status read of it. */
export interface HoldView {
  /** Why this node cannot hold `ip`, or undefined when nothing is known against it. */
  reason(ip: string): string | undefined;
  /** VIPs marked (a node-wide mark counts once); 0 in the common case, so callers can skip lookups. */
  readonly size: number;
  /** True when no VIP can be held here at all. */
  readonly holdsNothing: boolean;
}

export interface HoldFailureOptions {
  /** Failed adds in a row before the VIP is given up. */
  readonly threshold?: number;
  /** First delay before a trial add, doubled after each failed trial up to the cap. */
  readonly trialMinMs?: number;
  readonly trialMaxMs?: number;
}

interface Failure {
  readonly reason: string;
  readonly since: number;
  nextTrialAt: number;
  trialDelay: number;
}

/** Errors that say no address can be added on this node at all. */
const NODE_WIDE_ERRORS = new Set(["EPERM"]);

export class HoldFailures implements HoldView {
  private readonly byIp = new Map<string, Failure>();
  private nodeWide: (Failure & { ip: string }) | undefined;
  private readonly threshold: number;
  private readonly trialMinMs: number;
  private readonly trialMaxMs: number;

  constructor(options: HoldFailureOptions = {}) {
    this.threshold = options.threshold ?? 3;
    this.trialMinMs = options.trialMinMs ?? 2000;
    this.trialMaxMs = options.trialMaxMs ?? 30_000;
  }

  /**
   * Takes the applier's divergences; returns the VIPs given up by this call (for the node-wide mark, the one
   * whose failure set it: every VIP goes with it). VIPs added successfully must be passed to succeeded().
   */
  update(divergences: readonly AddressDivergence[], now: number): string[] {
    const givenUp: string[] = [];
    for (const d of divergences) {
      if (d.failures < this.threshold || d.reason === "missing") continue;
      const reason = `cannot hold it here: ${d.reason} (${d.failures} attempts)`;
      const errno = /\b(E[A-Z0-9]+)\b/.exec(d.reason)?.[1] ?? "";
      if (NODE_WIDE_ERRORS.has(errno)) {
        if (this.nodeWide) continue;
        this.nodeWide = { ip: d.ip, ...this.fresh(`cannot hold any VIP here: ${d.reason}`, now) };
        givenUp.push(d.ip);
      } else if (!this.byIp.has(d.ip) && !this.nodeWide) {
        this.byIp.set(d.ip, this.fresh(reason, now));
        givenUp.push(d.ip);
      }
    }
    return givenUp;
  }

  /** `ip` was added (or a trial add worked): it, and the node-wide mark, are cleared. */
  succeeded(ip: string): boolean {
    const had = this.byIp.delete(ip);
    if (this.nodeWide) {
      this.nodeWide = undefined;
      return true;
    }
    return had;
  }

  /**
   * Drops what is known against `ip` alone (its interface changed: a link came up or was added), so it is
   * tried again at once instead of at its next trial. A node-wide mark stays.
   */
  forget(ip: string): boolean {
    return this.byIp.delete(ip);
  }

  /** Why this node cannot hold `ip`, or undefined when nothing is known against it. */
  reason(ip: string): string | undefined {
    return this.nodeWide?.reason ?? this.byIp.get(ip)?.reason;
  }

  /** True when no VIP can be held here at all (the node reports not-ready). */
  get holdsNothing(): boolean {
    return this.nodeWide !== undefined;
  }

  get size(): number {
    return this.byIp.size + (this.nodeWide ? 1 : 0);
  }

  /** The VIPs whose trial add is due now; each is scheduled again as if it failed until trialResult(). */
  dueTrials(now: number): string[] {
    const due: string[] = [];
    const take = (ip: string, f: Failure): void => {
      if (f.nextTrialAt > now) return;
      due.push(ip);
      f.trialDelay = Math.min(this.trialMaxMs, f.trialDelay * 2);
      f.nextTrialAt = now + f.trialDelay;
    };
    if (this.nodeWide) take(this.nodeWide.ip, this.nodeWide);
    for (const [ip, f] of this.byIp) take(ip, f);
    return due;
  }

  /** A trial add's outcome: undefined error = success. Returns true when eligibility changed. */
  trialResult(ip: string, error: string | undefined): boolean {
    return error === undefined ? this.succeeded(ip) : false;
  }

  /** Forgets VIPs no longer configured. */
  retain(configured: (ip: string) => boolean): void {
    for (const ip of this.byIp.keys()) if (!configured(ip)) this.byIp.delete(ip);
    if (this.nodeWide && !configured(this.nodeWide.ip)) this.nodeWide = undefined;
  }

  private fresh(reason: string, now: number): Failure {
    return { reason, since: now, nextTrialAt: now + this.trialMinMs, trialDelay: this.trialMinMs };
  }
}
