// A manual clock for timer-driven code under test (the one Clock interface, lib/gossip/clock.ts).
import type { Clock, TimerHandle } from "../../lib/gossip/clock";

/** A manual clock: timers fire only when the test advances time. */
export class FakeClock implements Clock {
  time = 0;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private nextId = 1;
  now(): number {
    return this.time;
  }
  setTimer(ms: number, fn: () => void): TimerHandle {
    const id = this.nextId++;
    this.timers.push({ at: this.time + ms, fn, id });
    return { id };
  }
  clearTimer(handle: TimerHandle | undefined): void {
    this.timers = this.timers.filter((t) => t.id !== handle?.id);
  }
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.time = next.at;
      next.fn();
    }
    this.time = end;
  }
}
