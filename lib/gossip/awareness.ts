// Lifeguard local health: a saturating score 0..max−1. When *we* are the slow one (probes failing, helpers'
// nacks missing, having to refute, our own timers firing late) the score rises and our timeouts stretch by
// (score + 1), so a busy or stalled node does not accuse healthy peers. Successful probes lower it.

/** Why the score moved; exported so operators can tell a slow host from a flapping peer. */
export type HealthCause = "probe-ok" | "probe-failed" | "refute" | "stall";

export class Awareness {
  private value = 0;

  constructor(private readonly max: number) {}

  get score(): number {
    return this.value;
  }

  /** Returns whether the score changed. */
  apply(delta: number): boolean {
    const before = this.value;
    this.value = Math.min(this.max - 1, Math.max(0, this.value + delta));
    return this.value !== before;
  }

  /** Stretches a timeout by the current multiplier. */
  scale(ms: number): number {
    return ms * (this.value + 1);
  }
}

/**
 * Whether having to refute an accusation is evidence that *we* are slow (Lifeguard counts every refute).
 * It is not when the accuser is a member we hold dead or left, or one that came back from that less than
 * `staleWindowMs` ago: that accusation was raised while the accuser was the one cut off (its link went down,
 * it was partitioned alone), and our side had already confirmed its failure. Counting it made every flap of
 * one member stretch the survivors' detection timeouts, so the next real failure was detected 8× slower.
 */
export function refuteCountsAgainstUs(
  accuser: { state: string; returnedAt?: number } | undefined,
  now: number,
  staleWindowMs: number,
): boolean {
  if (!accuser) return true;
  if (accuser.state === "dead" || accuser.state === "left") return false;
  return accuser.returnedAt === undefined || now - accuser.returnedAt >= staleWindowMs;
}
