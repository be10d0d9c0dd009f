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
