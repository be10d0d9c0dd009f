// How long a watched member has lately gone quiet between two packets, so its verdict waits for more than
// that (issue 13: "a suspicion floor derived from measured jitter"). A daemon paused 100 ms every second
// (the bench's SIGSTOP/SIGCONT), or starved on a saturated host, sends its next heartbeat 100-125 ms after
// the last one plus however long the scheduler takes to run it again; with a fixed 150 ms verdict every
// such wake-up slower than ~25 ms was a death, and in a 3-node cluster a failover. A crash is different: it
// is a silence far longer than anything the member showed before. So each watcher keeps the longest gap it
// observed per member over the last minute (counting only time its own loop ran, like every silence in
// memberlist.ts) and holds the verdict until the silence exceeds that gap by a margin, never below
// failureTimeoutMs and never above GAP_CAP × failureTimeoutMs. A member on a quiet host has 25 ms gaps and
// keeps the plain 150 ms verdict, so crash detection there is unchanged. Only a *habit* counts: the gap used
// is the second longest of the minute, and nothing is learned in a member's first GAP_WARMUP_MS (a daemon
// starting up, or one long stall, would otherwise slow the detection of its crash for a whole minute; the
// crash lab test saw 404 ms instead of ~130). Pure: the caller passes the time.

/** A verdict needs the silence to exceed the longest recent gap by this factor. */
export const GAP_MARGIN = 1.5;
/** The learned verdict timeout never exceeds this many failure timeouts (bounds crash detection). */
export const GAP_CAP = 2;
/** Gaps are remembered this long: a member that stopped pausing returns to the plain timeout. */
export const GAP_MEMORY_MS = 60_000;
/** Gaps of a member's first seconds (after we first hear it, or hear it again after its death) are ignored. */
export const GAP_WARMUP_MS = 5_000;
/** Gaps are kept as the two longest per bucket of this length (GAP_MEMORY_MS / GAP_BUCKET_MS buckets). */
const GAP_BUCKET_MS = 10_000;
const BUCKETS = GAP_MEMORY_MS / GAP_BUCKET_MS;

interface Bucket {
  readonly index: number;
  longest: number;
  second: number;
}

/** The long gaps of one member, bucketed by time so old ones expire. */
export class GapHistory {
  /** Oldest first; at most BUCKETS + 1 entries. */
  private readonly buckets: Bucket[] = [];

  constructor(private readonly since: number) {}

  record(now: number, gapMs: number): void {
    if (!Number.isFinite(gapMs) || gapMs <= 0 || now - this.since < GAP_WARMUP_MS) return;
    const index = Math.floor(now / GAP_BUCKET_MS);
    let last = this.buckets[this.buckets.length - 1];
    if (!last || last.index !== index) this.buckets.push((last = { index, longest: 0, second: 0 }));
    if (gapMs > last.longest) [last.longest, last.second] = [gapMs, last.longest];
    else if (gapMs > last.second) last.second = gapMs;
    this.expire(index);
  }

  /** The second longest gap recorded within the last GAP_MEMORY_MS (0 when fewer than two). */
  habitual(now: number): number {
    this.expire(Math.floor(now / GAP_BUCKET_MS));
    let longest = 0;
    let second = 0;
    for (const b of this.buckets)
      for (const gap of [b.longest, b.second])
        if (gap > longest) [longest, second] = [gap, longest];
        else if (gap > second) second = gap;
    return second;
  }

  private expire(index: number): void {
    while (this.buckets.length > 0 && (this.buckets[0] as Bucket).index <= index - BUCKETS)
      this.buckets.shift();
  }
}

/**
 * Silence (ms) after which a member whose habitual long gap is `gapMs` is declared failed: failureTimeoutMs
 * while its gaps are ordinary, GAP_MARGIN × that gap when that is more, capped.
 */
export function learnedVerdictTimeout(failureTimeoutMs: number, gapMs: number): number {
  return Math.min(GAP_CAP * failureTimeoutMs, Math.max(failureTimeoutMs, GAP_MARGIN * gapMs));
}
