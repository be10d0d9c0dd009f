// Lifeguard local health: a saturating score 0..max−1. When *we* are the slow one (probes failing, helpers'
// nacks missing, having to refute, our own timers firing late) the score rises and our timeouts stretch by
// (score + 1), so a busy or stalled node does not accuse healthy peers. Successful probes lower it.

export class Awareness {
  private value = 0;

  constructor(private readonly max: number) {}

  get score(): number {
    return this.value;
  }

  apply(delta: number): void {
    this.value = Math.min(this.max - 1, Math.max(0, this.value + delta));
  }

  /** Stretches a timeout by the current multiplier. */
  scale(ms: number): number {
    return ms * (this.value + 1);
  }
}
