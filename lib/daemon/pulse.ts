// One timer for the main thread's periodic work. Each job had its own: the conflict monitor read its packet
// sockets every 50 ms, the manifest check ran every 100 ms, the daemon's tick every second, each on its own
// phase, and an idle daemon's main thread woke 40-42 times a second for them. On one timer on the cluster's
// 100 ms grid they share a wake-up: 21 a second. A wake-up with no work costs ~70 µs on this kind of host, so
// this is ~0.15 % of a core per node (docs/design.md, "Cost per VIP: round 12"), and a pattern to keep.
import { untilGridAt } from "../gossip/clock";

/** The pulse's period: every job runs on a multiple of it. */
export const PULSE_MS = 100;

interface Job {
  /** Every how many pulses. */
  readonly every: number;
  readonly run: () => void;
}

export class Pulse {
  private readonly jobs: Job[] = [];
  private timer: NodeJS.Timeout | undefined;
  private count = 0;
  private stopped = false;

  constructor(
    private readonly periodMs = PULSE_MS,
    /** Wall-clock ms: the grid is the cluster's shared scale, as the gossip thread's (its stats post rides it). */
    private readonly wallNow: () => number = () => performance.timeOrigin + performance.now(),
  ) {}

  /**
   * Runs `run` about every `everyMs`, rounded down to a whole number of pulses (at least one): a job with a
   * deadline (the watchdog's pace) must never run later than it asked. A job that throws is a bug: it ends
   * the process, as it did on a timer of its own, and the service manager restarts it.
   */
  every(everyMs: number, run: () => void): void {
    this.jobs.push({ every: Math.max(1, Math.floor(everyMs / this.periodMs)), run });
  }

  start(): void {
    const beat = (): void => {
      if (this.stopped) return;
      this.count++;
      this.schedule(beat);
      for (const job of this.jobs) if (this.count % job.every === 0) job.run();
    };
    this.schedule(beat);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(beat: () => void): void {
    this.timer = setTimeout(beat, untilGridAt(this.wallNow(), this.periodMs));
  }
}
