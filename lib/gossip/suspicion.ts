// Lifeguard suspicion timer: starts at `max` and shrinks logarithmically as independent members confirm the
// suspicion, down to `min` once `k` have (memberlist's formula). Pure arithmetic plus a tiny timer holder.
import type { Clock, TimerHandle } from "./clock";

/** Timeout after n confirmations: max − (max − min)·ln(n+1)/ln(k+1), floored at min. */
export function suspicionTimeout(n: number, k: number, minMs: number, maxMs: number): number {
  if (k < 1) return minMs;
  const frac = Math.log(n + 1) / Math.log(k + 1);
  const raw = maxMs - frac * (maxMs - minMs);
  return Math.max(minMs, Math.floor(raw));
}

export class Suspicion {
  private readonly confirmers = new Set<string>();
  private timer: TimerHandle | undefined;
  private fired = false;

  constructor(
    private readonly clock: Clock,
    /** Who raised it first: not a confirmation. */
    readonly origin: string,
    private readonly k: number,
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly onTimeout: () => void,
  ) {
    this.start = clock.now();
    this.arm();
  }

  readonly start: number;

  get confirmations(): number {
    return this.confirmers.size;
  }

  /** Adds an independent confirmation; returns true when it was new (worth re-broadcasting). */
  confirm(from: string): boolean {
    if (this.fired || from === this.origin || this.confirmers.has(from)) return false;
    if (this.confirmers.size >= this.k) return false;
    this.confirmers.add(from);
    this.arm();
    return true;
  }

  cancel(): void {
    this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.fired = true;
  }

  private arm(): void {
    this.clock.clearTimer(this.timer);
    const timeout = suspicionTimeout(this.confirmers.size, this.k, this.minMs, this.maxMs);
    const remaining = this.start + timeout - this.clock.now();
    this.timer = this.clock.setTimer(Math.max(0, remaining), () => {
      this.timer = undefined;
      if (this.fired) return;
      this.fired = true;
      this.onTimeout();
    });
  }
}
