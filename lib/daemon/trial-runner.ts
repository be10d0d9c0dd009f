// Runs the planner's trial adds (Plan.trials) of VIPs this node gave up, one at a time per IP, and hands the
// results to the next plan (Snapshot.trialResults). The decision what to try, and when, is the planner's
// (lib/plan/holding.ts); this is only the I/O.
import type { TrialRequest, TrialResult } from "../plan/types";
import type { Logger } from "./log";

export interface TrialTarget {
  /** Adds `ip` on `ifname` and removes it at once; resolves with the error, undefined when it worked. */
  trial(ip: string, ifname: string): Promise<string | undefined>;
}

export class TrialRunner {
  private readonly running = new Set<string>();
  private results: TrialResult[] = [];

  constructor(
    private readonly target: TrialTarget,
    private readonly log: Logger,
    /** Called when a result is in (the daemon then schedules a step). */
    private readonly finished: () => void,
  ) {}

  run(trials: readonly TrialRequest[]): void {
    for (const { ip, interface: ifname } of trials) {
      if (this.running.has(ip)) continue;
      this.running.add(ip);
      void this.target.trial(ip, ifname).then(
        (error) => this.done(ip, error),
        (error: unknown) => this.done(ip, error instanceof Error ? error.message : String(error)),
      );
    }
  }

  /** The results since the last call, for the next snapshot. */
  take(): TrialResult[] {
    const results = this.results;
    if (results.length > 0) this.results = [];
    return results;
  }

  private done(ip: string, error: string | undefined): void {
    this.running.delete(ip);
    const outcome = error === undefined ? "add works again" : `still failing: ${error}`;
    this.log.log("info", "holdTrial", `${ip}: ${outcome}`, { ip });
    this.results.push({ ip, error });
    this.finished();
  }
}
