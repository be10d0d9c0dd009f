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

/**
 * Manifests of at least this many bytes start as a burst (the daemon, from its launch until ADDS_TAIL_MS after
 * start-up's last add). The scale bench's manifest is ~200 bytes a service: 1,000 services (~0.2 MB) gained
 * nothing and kept 3-5 MB more steady RSS; 10,000 (~2 MB) were all held in 9.3-12.3 s against 13.5-16.8.
 * Sizes between were not measured.
 */
export const STARTUP_BURST_MIN_BYTES = 1024 * 1024;

/** How long a burst runs on after an address add (the daemon extends a running burst by this much per add). */
export const ADDS_TAIL_MS = 1000;

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
    /**
     * A full collection, run when a burst ends with the flag set again (V8's `gc`, exposed by the daemon's
     * `--expose-gc`): the heap the burst grew is compacted and given back now. Without it V8's memory
     * reducer did so only after a few seconds of low allocation, and a 10,000-VIP start-up run as a burst
     * still held 134-205 MB per node (against 133-145) when the scale bench measured steady state.
     */
    private readonly collect: () => void = () => undefined,
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
      this.collect();
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
  const gc = (globalThis as { gc?: () => void }).gc;
  return new HeapMode(
    setFlagsFromString,
    execArgv.includes(FLAG),
    undefined,
    changed,
    gc ? () => gc() : undefined,
  );
}
