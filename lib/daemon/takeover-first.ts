// A step that takes addresses over sends their adds before it does the rest of its work. At 1,000 VIPs the
// rest (events, probes, the gossiped metadata of every group, the vipd_announced gauges) costs tens of ms
// on a busy host, and a crash's first add waited for all of it. Then it ran one loop turn later, after the
// first batch of adds: in the middle of the takeover, where its 40-80 ms held back the acknowledgements of
// every later batch and their announcements (issue 14's crash trace, round 9). It now waits for the adds
// themselves, up to DEFERRED_MAX_WAIT_MS: none of it announces a VIP, and none of it is needed for the
// adds to land.

/**
 * Longest the rest of a takeover's step waits for its adds. A 1,000-VIP crash's adds take 70-250 ms on a
 * survivor here; a 10,000-VIP crash's take seconds, and the rest (metadata for peers, probes of other new
 * VIPs) should not wait that long.
 */
export const DEFERRED_MAX_WAIT_MS = 300;

/**
 * How many addresses (or links for them) `next` wants that `current` does not: what the plan takes over. One
 * walk serves both the step's "is this a takeover" and its `takeover` log line.
 */
export function countTakenOver(
  next: ReadonlyMap<string, string>,
  current: ReadonlyMap<string, string>,
): number {
  let count = 0;
  for (const [ip, ifname] of next) if (current.get(ip) !== ifname) count++;
  return count;
}

/**
 * The deferred rest of one step. Runs once `until` settles (the step's adds) or DEFERRED_MAX_WAIT_MS have
 * passed, on a loop turn after the step's, or at the start of the next step if that comes first (a paced
 * step's timer can fire before the adds finish): a step's work is never applied after a newer step's.
 */
export class DeferredStepWork {
  private pending: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly maxWaitMs = DEFERRED_MAX_WAIT_MS) {}

  defer(work: () => void, until: Promise<unknown> = Promise.resolve()): void {
    this.flush();
    this.pending = work;
    this.timer = setTimeout(() => this.flush(), this.maxWaitMs);
    // Not in the microtask after the step: a loop turn later, as before, when `until` is already settled.
    const later = (): void => void setImmediate(() => this.pending === work && this.flush());
    void until.then(later, later);
  }

  /** Runs the pending work now, if any. */
  flush(): void {
    const work = this.pending;
    this.pending = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    work?.();
  }

  /** Drops the pending work (shutdown). */
  cancel(): void {
    this.pending = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
