// The daemon's heap runs under --optimize-for-size (the wrapper's flags, for steady RSS: "Memory at scale" in
// docs/design.md). That flag also keeps V8's young generation at 1 MB and makes every full GC a compacting,
// memory-reducing one, so a burst of work that builds thousands of short-lived objects (a reload of 10,000
// services, the takeover after a member's death) spends a third of its time in the collector and runs up
// to ~3x the CPU it needs. The flag is read by V8's heap heuristics as they run, so a burst can run
// without it: it is cleared when the burst starts and set again a few seconds after the last one. Once set
// again, V8's memory reducer (a few seconds of low allocation later) compacts the heap and shrinks the
// young generation back, so the steady RSS stays what the flag gives (measured: docs/design.md, round 14).
// Only where the process was started with the flag: a daemon run without it has nothing to switch.
import { setFlagsFromString } from "node:v8";

/** How long after the last burst's start the flag stays off (a burst ends sooner than this at 10,000 VIPs). */
export const BURST_MS = 4000;

const FLAG = "--optimize-for-size";
const NO_FLAG = "--no-optimize-for-size";

export class HeapMode {
  private burstEnd = 0;
  private timer: NodeJS.Timeout | undefined;
  /** How many bursts cleared the flag (a burst that extends a running one does not count). */
  bursts = 0;

  constructor(
    /** V8's own setter (faked in unit tests). */
    private readonly setFlags: (flags: string) => void,
    /** Whether the process runs with the flag at all. */
    private readonly sizeOptimized: boolean,
    private readonly now: () => number = () => performance.now(),
    /** Told when a burst starts (with its cause) and when it ends: the daemon logs both at debug level. */
    private readonly changed: (inBurst: boolean, cause: string) => void = () => undefined,
  ) {}

  /** Whether a burst is running now (the flag is cleared). */
  get inBurst(): boolean {
    return this.timer !== undefined;
  }

  /** Work that allocates heavily starts now: run the heap for speed for `ms` (extends a running burst). */
  burst(cause: string, ms = BURST_MS): void {
    if (!this.sizeOptimized) return;
    const end = this.now() + ms;
    if (end > this.burstEnd) this.burstEnd = end;
    if (this.timer !== undefined) return;
    this.setFlags(NO_FLAG);
    this.bursts++;
    this.changed(true, cause);
    this.arm(ms);
  }

  /** Ends any burst now (a stopping daemon does not leave the flag cleared behind it). */
  close(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.setFlags(FLAG);
    this.changed(false, "stopping");
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      const left = this.burstEnd - this.now();
      if (left > 0) return this.arm(left);
      this.timer = undefined;
      this.setFlags(FLAG);
      this.changed(false, `${BURST_MS} ms after the last burst`);
    }, ms);
    // A burst never keeps the process alive (a graceful stop exits when the loop empties).
    this.timer.unref();
  }
}

/** The daemon's heap mode: switches only when Node was started with --optimize-for-size. */
export function processHeapMode(
  changed?: (inBurst: boolean, cause: string) => void,
  execArgv: readonly string[] = process.execArgv,
): HeapMode {
  return new HeapMode(setFlagsFromString, execArgv.includes(FLAG), undefined, changed);
}
