// How long a watched member has lately gone quiet between two packets, so its verdict waits for more than
// that (issue 13: "a suspicion floor derived from measured jitter"). A daemon paused 100 ms every second
// (the bench's SIGSTOP/SIGCONT), or starved on a saturated host, sends its next heartbeat 100-125 ms after
// the last one plus however long the scheduler takes to run it again; with a fixed 150 ms verdict every
// such wake-up slower than ~25 ms was a death, and in a 3-node cluster a failover. A crash is different: it
// is a silence far longer than anything the member showed before. So each watcher keeps the longest gap it
// observed per member over the last minute (counting only time its own loop ran, like every silence in
// memberlist.ts) and holds the verdict until the silence exceeds that gap by a margin, never below
// failureTimeoutMs and never above GAP_CAP × failureTimeoutMs. A member on a quiet host has 25 ms gaps and
// keeps the plain 150 ms verdict, so crash detection there is unchanged. Pure: the caller passes the time.

/** A verdict needs the silence to exceed the longest recent gap by this factor. */
export const GAP_MARGIN = 1.5;
/** The learned verdict timeout never exceeds this many failure timeouts (bounds crash detection). */
export const GAP_CAP = 2;
/** Gaps are remembered this long: a member that stopped pausing returns to the plain timeout. */
export const GAP_MEMORY_MS = 60_000;
/** Gaps are kept as one maximum per bucket of this length (GAP_MEMORY_MS / GAP_BUCKET_MS buckets). */
const GAP_BUCKET_MS = 10_000;
const BUCKETS = GAP_MEMORY_MS / GAP_BUCKET_MS;

/** The longest gap of one member, bucketed by time so old maxima expire. */
export class GapHistory {
  /** [bucket index, longest gap in it], oldest first; at most BUCKETS + 1 entries. */
  private readonly buckets: Array<[number, number]> = [];

  record(now: number, gapMs: number): void {
    if (!Number.isFinite(gapMs) || gapMs <= 0) return;
    const index = Math.floor(now / GAP_BUCKET_MS);
    const last = this.buckets[this.buckets.length - 1];
    if (last && last[0] === index) last[1] = Math.max(last[1], gapMs);
    else this.buckets.push([index, gapMs]);
    this.expire(index);
  }

  /** The longest gap recorded within the last GAP_MEMORY_MS (0 when none). */
  longest(now: number): number {
    this.expire(Math.floor(now / GAP_BUCKET_MS));
    let longest = 0;
    for (const [, gap] of this.buckets) longest = Math.max(longest, gap);
    return longest;
  }

  private expire(index: number): void {
    while (this.buckets.length > 0 && (this.buckets[0] as [number, number])[0] <= index - BUCKETS)
      this.buckets.shift();
  }
}

/**
 * Silence (ms) after which a member whose longest recent gap is `longestGapMs` is declared failed:
 * failureTimeoutMs while its gaps are ordinary, GAP_MARGIN × its longest gap when that is more, capped.
 */
export function learnedVerdictTimeout(failureTimeoutMs: number, longestGapMs: number): number {
  return Math.min(GAP_CAP * failureTimeoutMs, Math.max(failureTimeoutMs, GAP_MARGIN * longestGapMs));
}
