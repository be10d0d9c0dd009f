// A step that takes addresses over sends their adds before it does the rest of its work. At 1,000 VIPs the
// rest (events, probes, the gossiped metadata of every group, the vipd_announced gauges) costs tens of ms
// on a busy host, and a crash's first add waited for all of it; it now follows one loop turn later, after
// the first batch of adds and its announcements (issue 14: adds at the kernel's pace).

/** Whether `next` wants an address (or a link for it) that `current` does not: the plan takes something over. */
export function takesOver(next: ReadonlyMap<string, string>, current: ReadonlyMap<string, string>): boolean {
  for (const [ip, ifname] of next) if (current.get(ip) !== ifname) return true;
  return false;
}

/**
 * The deferred rest of one step. Runs on the next loop turn, or at the start of the next step if that comes
 * first (a paced step's timer can fire before the turn's immediates): a step's work is never applied after
 * a newer step's.
 */
export class DeferredStepWork {
  private pending: (() => void) | undefined;
  private immediate: NodeJS.Immediate | undefined;

  defer(work: () => void): void {
    this.flush();
    this.pending = work;
    this.immediate = setImmediate(() => this.flush());
  }

  /** Runs the pending work now, if any. */
  flush(): void {
    const work = this.pending;
    this.pending = undefined;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    work?.();
  }

  /** Drops the pending work (shutdown). */
  cancel(): void {
    this.pending = undefined;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
  }
}
