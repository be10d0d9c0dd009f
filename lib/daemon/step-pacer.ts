// When the daemon's step runs. Steps are level-triggered, so one step after a burst of events sees them all;
// but a step over thousands of groups costs milliseconds, and during a takeover events (acknowledgements,
// peers' metadata) keep coming. A step therefore waits as long as the previous one took: planning gets at most
// half of the main thread, and the address acknowledgements and announcements of a takeover are never starved
// by replanning. The first step after a quiet period runs at once, so the decision itself is never delayed.
// An input that a decision waits on (a probe that came back clean, a new config, a member's death) asks with
// `urgent`: it skips the wait, unless the step before it skipped it too, so planning still gets at most
// two thirds of the main thread. At 1,000 VIPs the wait after a ~60 ms step delayed the add of a reloaded
// VIP that its probe had cleared by as much.

/** Monotonic milliseconds (performance.now() in the daemon; a fake in tests). */
export type MonotonicClock = () => number;

/**
 * Longest a step asked for with requestAfter() waits for the work it follows. An address pass of a takeover
 * at 1,000 VIPs runs for a few hundred ms; the claims it makes possible are gossiped at least this often.
 */
export const AFTER_MAX_WAIT_MS = 100;
/**
 * A requestAfter() step waits at least this many times the last step's cost: planning then gets at most a
 * fifth of the main thread while a takeover's adds run. At 1,000 VIPs a full step costs 30-100 ms on a busy
 * host, and one every 100 ms took half the thread from the crash's adds and announcements.
 */
export const AFTER_COST_FACTOR = 4;

export class StepPacer {
  private queued = false;
  /** A requestAfter() step is waiting for its work to settle. */
  private afterPending = false;
  private stopped = false;
  /** When the last step ended and how long it ran: the pace of the next one. */
  private lastEnd = Number.NEGATIVE_INFINITY;
  private lastCost = 0;
  /** When the step running now started (requestAfter() from inside a step counts its cost so far). */
  private runningSince: number | undefined;
  /** A step asked for at a given time (see at()). */
  private timer: NodeJS.Timeout | undefined;
  /** The queued step's pacing wait, while it waits. */
  private pacedWait: NodeJS.Timeout | undefined;
  /** The queued step skips its pacing wait (an urgent request); the last step did. */
  private skipping = false;
  private lastSkippedWait = false;

  /**
   * `busyWork` says what work is under way that steps no decision waits on should not interrupt: the
   * daemon's run of address changes. At 10,000 VIPs a full step costs 250+ ms; the 1 s tick's steps and each
   * peer record update ran between the batches of a takeover's 3,400 adds (cpu-prof of a survivor: planning
   * and the record publishes it drives took more of the main thread than the adds).
   */
  constructor(
    private readonly step: () => void,
    private readonly now: MonotonicClock = () => performance.now(),
    private readonly busyWork: () => Promise<unknown> | undefined = () => undefined,
  ) {}

  /**
   * A step soon: at once after a quiet period, else once the previous step's cost has passed again. A
   * request that is not urgent, while busyWork runs, waits for it as requestAfter() does.
   */
  request(urgent = false): void {
    if (this.stopped) return;
    if (!urgent && !this.queued) {
      const busy = this.busyWork();
      if (busy !== undefined) return this.requestAfter(busy);
    }
    this.requestPaced(urgent);
  }

  /**
   * An urgent step right here, before this call returns, when one may run at once (else as request(true)).
   * For a new config: the step that elects its new VIPs otherwise waited for the next loop turn, behind the
   * peers' records that queued up while the config loaded (~30 ms of a 1,000-VIP reload, lab profile).
   * Not from inside a step.
   */
  runNow(): void {
    if (this.runningSince !== undefined) return this.request(true);
    this.requestPaced(true, true);
  }

  private requestPaced(urgent: boolean, here = false): void {
    if (this.stopped) return;
    const go = (): void => (here ? this.run() : void setImmediate(() => this.run()));
    if (this.queued) {
      // A paced step is waiting: an urgent input brings it forward.
      if (urgent && this.pacedWait !== undefined && !this.lastSkippedWait) {
        clearTimeout(this.pacedWait);
        this.pacedWait = undefined;
        this.skipping = true;
        go();
      } else if (here && this.pacedWait === undefined) this.run(); // its immediate then finds nothing queued
      return;
    }
    this.queued = true;
    const wait = this.lastEnd + this.lastCost - this.now();
    if (wait >= 1 && !(urgent && !this.lastSkippedWait)) {
      this.pacedWait = setTimeout(() => this.run(), wait);
      return;
    }
    this.skipping = wait >= 1;
    go();
  }

  private run(): void {
    if (!this.queued) return;
    this.queued = false;
    clearTimeout(this.pacedWait);
    this.pacedWait = undefined;
    this.lastSkippedWait = this.skipping;
    this.skipping = false;
    if (this.stopped) return;
    const started = this.now();
    this.runningSince = started;
    try {
      this.step();
    } finally {
      this.runningSince = undefined;
    }
    this.lastEnd = this.now();
    this.lastCost = this.lastEnd - started;
  }

  /**
   * A step once `settled` resolves (or after `maxWaitMs`, or AFTER_COST_FACTOR times the last step's cost
   * if longer), whatever asks meanwhile: one for many callers.
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
      // Not request(): at the cap the work may still run, and this step is the one that waited for it.
      this.requestPaced(false);
    };
    const running = this.runningSince === undefined ? 0 : this.now() - this.runningSince;
    const cost = Math.max(this.lastCost, running);
    const timer = setTimeout(go, Math.max(maxWaitMs, AFTER_COST_FACTOR * cost));
    void settled.then(go, go);
  }

  /**
   * The step a plan asks for at `when` (nextPassAt). One due at once, asked by a takeover's step, waits for
   * `adds` (requestAfter): the follow-up full pass after a crash took the thread from the adds it follows.
   */
  followUp(when: number | undefined, adds: Promise<unknown>): void {
    if (when === undefined || when > this.now()) return this.at(when);
    this.at(undefined);
    this.requestAfter(adds);
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
    clearTimeout(this.pacedWait);
  }
}
