// The daemon's heap runs under --optimize-for-size in steady state (for steady RSS: "Memory at scale" in
// docs/design.md). That flag also keeps V8's young generation at 1 MB and makes every full GC a compacting,
// memory-reducing one, so a burst of work that builds thousands of short-lived objects (start-up, a reload
// of 10,000 services, the takeover after a member's death) spends a third of its time in the collector and
// runs up to ~3x the CPU it needs. The flag is read by V8's heap heuristics as they run, so a burst runs
// without it: V8's flags are at their defaults during a burst and the flag is set a few seconds after the
// last one. Once set, V8's memory reducer (and the full collection run at a burst's end) compacts the heap
// and shrinks the young generation back, so the steady RSS stays what the flag gives.
//
// The flag is set here at run time, not on Node's command line: it changes with the daemon's work, and V8
// accepts a code cache only under the flag hash it was made with (every V8 flag off its default changes
// it). A burst restores the flags the process runs with after its entry exactly (--optimize-for-size also
// sets --max-semi-space-size to 1, which clearing it does not undo): the wrapper's --single-threaded-gc, and
// V8's defaults otherwise (the entry, daemon/launch.ts, sets the wrapper's --max-semi-space-size back), the
// flags the bundle's code cache is made under (scripts/bundle.js). Node's own built-in modules come with a
// cache made under V8's defaults alone; since --single-threaded-gc (round 21) they compile from source, in
// the main thread and in each worker's bootstrap (round 16 measured ~2.4x the time to require them).
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** How long after the last burst's start the flag stays off (a burst ends sooner than this at 10,000 VIPs). */
export const BURST_MS = 4000;

/**
 * Manifests of at least this many bytes are a large start-up: its burst waits BURST_MS after readiness for
 * the first adds (a 10,000-service first step and its probes take ~1 s), a smaller one 2 * ADDS_TAIL_MS.
 * The scale bench's manifest is ~200 bytes a service.
 */
export const STARTUP_BURST_MIN_BYTES = 1024 * 1024;

/** How long a burst runs on after an address add (the daemon extends a running burst by this much per add). */
export const ADDS_TAIL_MS = 1000;

/** Steady state: the heap for size. */
export const SIZE_FLAGS = "--optimize-for-size";
/** A burst: V8's own defaults for the heap's size flags (the wrapper's --single-threaded-gc stays; see above). */
export const SPEED_FLAGS = "--no-optimize-for-size --max-semi-space-size=0";

export class HeapMode {
  private burstEnd = 0;
  private lastBurstAt = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  /** How many bursts cleared the flag (a burst that extends a running one does not count). */
  bursts = 0;

  constructor(
    /** V8's own setter (faked in unit tests). */
    private readonly setFlags: (flags: string) => void,
    /** Whether this mode switches V8's flags at all. */
    private readonly managed: boolean,
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

  /** Whether burst() was called within the last `ms` (the work that called it is likely still running). */
  burstWithin(ms: number): boolean {
    return this.now() - this.lastBurstAt < ms;
  }

  /** Work that allocates heavily starts now: run the heap for speed for `ms` (extends a running burst). */
  burst(cause: string, ms = BURST_MS): void {
    this.lastBurstAt = this.now();
    if (!this.managed) return;
    const end = this.now() + ms;
    if (end > this.burstEnd) this.burstEnd = end;
    if (this.timer !== undefined) return;
    this.setFlags(SPEED_FLAGS);
    this.bursts++;
    this.changed(true, cause);
    this.arm(ms);
  }

  /** Ends any burst now (a stopping daemon does not leave the flag cleared behind it). */
  close(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.setFlags(SIZE_FLAGS);
    this.changed(false, "stopping");
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      const left = this.burstEnd - this.now();
      if (left > 0) return this.arm(left);
      this.timer = undefined;
      this.setFlags(SIZE_FLAGS);
      this.collect();
      this.changed(false, `${BURST_MS} ms after the last burst`);
    }, ms);
    // A burst never keeps the process alive (a graceful stop exits when the loop empties).
    this.timer.unref();
  }
}

/**
 * The daemon's heap mode. The process runs with the wrapper's flags from its entry on (daemon/launch.ts)
 * and runs its start-up as a burst: the daemon calls burst() first thing, and the flag is set when
 * start-up's work is done. `managed` false leaves V8's flags alone (tests).
 */
export function processHeapMode(
  changed?: (inBurst: boolean, cause: string) => void,
  managed = true,
): HeapMode {
  return new HeapMode(setFlagsFromString, managed, undefined, changed, managed ? exposedGc() : undefined);
}

/**
 * V8's `gc`, without --expose-gc on the command line (which would change the flag hash, see above): the
 * flag is set only while a new context picks the function up, then cleared; the function stays usable.
 */
export function exposedGc(setFlags: (flags: string) => void = setFlagsFromString): () => void {
  setFlags("--expose-gc");
  try {
    const gc = runInNewContext("gc") as unknown;
    if (typeof gc !== "function") throw new Error("V8 did not expose gc");
    return () => (gc as () => void)();
  } finally {
    setFlags("--no-expose-gc");
  }
}
