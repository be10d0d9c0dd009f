// Time behind an interface so the protocol runs unchanged on real timers and on the simulator's virtual
// clock (where a 10-minute run takes seconds and a seed replays exactly).

export interface TimerHandle {
  readonly id: number;
}

export interface Clock {
  /** Milliseconds, monotonic (real: performance.now(); virtual: simulated time). */
  now(): number;
  setTimer(ms: number, fn: () => void): TimerHandle;
  clearTimer(handle: TimerHandle | undefined): void;
  /**
   * Runs fn once the packets already waiting for us have been handled. Node runs due timers *before* it
   * reads sockets, so a detector timer that fires after a stall would otherwise judge a peer silent while
   * its heartbeats sit unread in our receive buffer. Absent: fn runs at once.
   */
  afterPendingIo?(fn: () => void): void;
  /**
   * Milliseconds until the next multiple of `intervalMs` on a time scale the cluster's hosts share (wall
   * time), in (0, intervalMs]. Members that tick on the same grid send their heartbeats together, so each
   * one reads its peers' heartbeats in the wake-up of its own tick instead of one wake-up per packet (most
   * of a heartbeat's cost on Node is the wake-up). Absent: ticks keep their own phase.
   */
  untilGrid?(intervalMs: number): number;
}

/** Ticks this close before a grid point count as on it: a timer may fire up to a ms early by a precise clock. */
const GRID_EARLY_MS = 2;

/** untilGrid's arithmetic, for a time `t` in ms on the shared scale. */
export function untilGridAt(t: number, intervalMs: number): number {
  const left = intervalMs - (((t % intervalMs) + intervalMs) % intervalMs);
  return left < Math.min(GRID_EARLY_MS, intervalMs / 4) ? left + intervalMs : left;
}

export class RealClock implements Clock {
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private nextId = 1;

  now(): number {
    return performance.now();
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const id = this.nextId++;
    const t = setTimeout(
      () => {
        this.timers.delete(id);
        fn();
      },
      Math.max(0, ms),
    );
    this.timers.set(id, t);
    return { id };
  }

  untilGrid(intervalMs: number): number {
    // timeOrigin is the wall clock at start; adding the monotonic now() keeps it free of clock steps while
    // NTP's rate corrections keep the hosts' grids together.
    return untilGridAt(performance.timeOrigin + performance.now(), intervalMs);
  }

  afterPendingIo(fn: () => void): void {
    // setImmediate runs in the check phase, after this loop iteration's poll phase has read the sockets.
    setImmediate(fn);
  }

  clearTimer(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const t = this.timers.get(handle.id);
    if (t) {
      clearTimeout(t);
      this.timers.delete(handle.id);
    }
  }
}
