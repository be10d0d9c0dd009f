// When the daemon's step runs. Steps are level-triggered, so one step after a burst of events sees them all;
// but a step over thousands of groups costs milliseconds, and during a takeover events (acknowledgements,
// peers' metadata) keep coming. A step therefore waits as long as the previous one took: planning gets at most
// half of the main thread, and the address acknowledgements and announcements of a takeover are never starved
// by replanning. The first step after a quiet period runs at once, so the decision itself is never delayed.

/** Monotonic milliseconds (performance.now() in the daemon; a fake in tests). */
export type MonotonicClock = () => number;

/**
 * Longest a step asked for with requestAfter() waits for the work it follows. An address pass of a takeover
 * at 1,000 VIPs runs for a few hundred ms; the claims it makes possible are gossiped at least this often.
 */
export const AFTER_MAX_WAIT_MS = 100;

export class StepPacer {
  private queued = false;
  /** A requestAfter() step is waiting for its work to settle. */
  private afterPending = false;
  private stopped = false;
  /** When the last step ended and how long it ran: the pace of the next one. */
  private lastEnd = Number.NEGATIVE_INFINITY;
  private lastCost = 0;
  /** A step asked for at a given time (see at()). */
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly step: () => void,
    private readonly now: MonotonicClock = () => performance.now(),
  ) {}

  /** A step soon: at once after a quiet period, else once the previous step's cost has passed again. */
  request(): void {
    if (this.queued || this.stopped) return;
    this.queued = true;
    const run = (): void => {
      this.queued = false;
      if (this.stopped) return;
      const started = this.now();
      this.step();
      this.lastEnd = this.now();
      this.lastCost = this.lastEnd - started;
    };
    const wait = this.lastEnd + this.lastCost - this.now();
    if (wait >= 1) setTimeout(run, wait);
    else setImmediate(run);
  }

  /**
   * A step once `settled` resolves (or after `maxWaitMs`), whatever asks meanwhile: one for many callers.
   * The daemon asks for one per address the kernel confirmed; a full step per acknowledged batch of a
   * takeover took half the main thread from the adds and announcements it was waiting for.
   */
  requestAfter(settled: Promise<unknown>, maxWaitMs = AFTER_MAX_WAIT_MS): void {
    if (this.afterPending || this.stopped) return;
    this.afterPending = true;
    const go = (): void => {
      if (!this.afterPending) return;
      this.afterPending = false;
      clearTimeout(timer);
      this.request();
    };
    const timer = setTimeout(go, maxWaitMs);
    void settled.then(go, go);
  }

  /** A step at monotonic time `when` even if nothing else asks for one; replaces the previous such request. */
  at(when: number | undefined): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (when === undefined || this.stopped) return;
    this.timer = setTimeout(() => this.request(), Math.max(0, when - this.now()));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
