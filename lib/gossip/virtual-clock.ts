// The simulator's time: one binary-heap event queue shared by all simulated nodes, no real timers. Each node
// gets a NodeClock view that can be paused like a SIGSTOPped process: its timers that come due are held and
// fire (late) on resume, so the node sees the timer drift a real stalled process would see.
import type { Clock, TimerHandle } from "./clock";

interface Event {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

export class VirtualScheduler {
  private heap: Event[] = [];
  private seq = 0;
  private time = 0;
  private nextTimerId = 1;
  private readonly live = new Map<number, Event>();

  now(): number {
    return this.time;
  }

  /** Schedules fn at absolute time `at` (never in the past). */
  at(at: number, fn: () => void): Event {
    const ev: Event = { at: Math.max(at, this.time), seq: this.seq++, fn, cancelled: false };
    this.push(ev);
    return ev;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const id = this.nextTimerId++;
    const ev = this.at(this.time + Math.max(0, ms), () => {
      this.live.delete(id);
      fn();
    });
    this.live.set(id, ev);
    return { id };
  }

  clearTimer(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const ev = this.live.get(handle.id);
    if (ev) {
      ev.cancelled = true;
      this.live.delete(handle.id);
    }
  }

  /** Runs every event due up to and including `until`, then sets the time to `until`. */
  runUntil(until: number): void {
    for (;;) {
      const top = this.heap[0];
      if (!top || top.at > until) break;
      this.pop();
      if (top.cancelled) continue;
      this.time = top.at;
      top.fn();
    }
    this.time = Math.max(this.time, until);
  }

  advance(ms: number): void {
    this.runUntil(this.time + ms);
  }

  /** Advances in steps until `done()` holds or `maxMs` passes; returns the time it held, or undefined. */
  runUntilTrue(done: () => boolean, maxMs: number, stepMs = 1): number | undefined {
    const end = this.time + maxMs;
    while (this.time < end) {
      if (done()) return this.time;
      this.runUntil(Math.min(end, this.time + stepMs));
    }
    return done() ? this.time : undefined;
  }

  pending(): number {
    return this.heap.length;
  }

  private less(x: Event, y: Event): boolean {
    return x.at < y.at || (x.at === y.at && x.seq < y.seq);
  }

  private push(ev: Event): void {
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p] as Event;
      if (!this.less(ev, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = ev;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop() as Event;
    if (h.length === 0) return;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.less(h[r] as Event, h[l] as Event)) c = r;
      if (!this.less(h[c] as Event, last)) break;
      h[i] = h[c] as Event;
      i = c;
    }
    h[i] = last;
  }
}

/** One simulated process's view of the shared virtual time. */
export class NodeClock implements Clock {
  /**
   * Extra delay added to each of this node's timers (a loaded host where timers fire late while the
   * process otherwise runs); drawn per timer. Packets are not delayed by it.
   */
  lateness: (() => number) | undefined;
  private paused = false;
  private held = new Map<number, () => void>();
  private readonly mine = new Set<number>();
  private stopped = false;

  constructor(private readonly sched: VirtualScheduler) {}

  now(): number {
    return this.sched.now();
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    if (this.stopped) return { id: 0 };
    const late = this.lateness ? Math.max(0, this.lateness()) : 0;
    const handle = this.sched.setTimer(ms + late, () => {
      this.mine.delete(handle.id);
      if (this.stopped) return;
      if (this.paused) this.held.set(handle.id, fn);
      else fn();
    });
    this.mine.add(handle.id);
    return handle;
  }

  clearTimer(handle: TimerHandle | undefined): void {
    if (!handle) return;
    this.mine.delete(handle.id);
    this.held.delete(handle.id);
    this.sched.clearTimer(handle);
  }

  /** Like Node: a resumed node handles its held packets (flushed right after resume) before this runs. */
  afterPendingIo(fn: () => void): void {
    this.setTimer(0, fn);
  }

  isPaused(): boolean {
    return this.paused;
  }

  pause(): void {
    this.paused = true;
  }

  /** Fires the timers held during the pause, in due order, as a resumed process would. */
  resume(): void {
    this.paused = false;
    while (this.held.size > 0 && !this.stopped && !this.paused) {
      const [id, fn] = this.held.entries().next().value as [number, () => void];
      this.held.delete(id);
      fn();
    }
  }

  /** A crashed process: no timer of it ever fires again. */
  stop(): void {
    this.stopped = true;
    for (const id of this.mine) this.sched.clearTimer({ id });
    this.mine.clear();
    this.held.clear();
  }
}
