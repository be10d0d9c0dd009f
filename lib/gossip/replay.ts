// Anti-replay (memberlist has none; keepalived 2.4 added one): each sender stamps packets with its boot
// epoch and a sequence number; receivers keep, per sender, a sliding window of seen sequence numbers
// (IPsec style) so duplicates and packets older than the window are dropped, while reordering within the
// window is fine. A newer epoch (the sender restarted) resets the window. An older epoch is refused unless
// the current one has been silent for `staleMs` — so a restart with a clock that stepped backwards recovers,
// while a replay of old traffic only lands after the sender went silent, where incarnation numbers make it
// harmless (old alive/suspect claims lose to newer incarnations).

export type ReplayVerdict = "ok" | "replay" | "stale-epoch";

interface SenderWindow {
  epoch: number;
  max: number;
  seen: Uint32Array;
  lastAcceptedAt: number;
}

export class ReplayGuard {
  private readonly senders = new Map<string, SenderWindow>();

  constructor(
    private readonly window: number,
    private readonly staleMs: number,
    private readonly maxSenders = 65536,
  ) {}

  check(sender: string, epoch: number, seq: number, now: number): ReplayVerdict {
    let w = this.senders.get(sender);
    if (!w || epoch > w.epoch || (epoch < w.epoch && now - w.lastAcceptedAt > this.staleMs)) {
      if (!w && this.senders.size >= this.maxSenders) this.evictOldest();
      w = { epoch, max: seq, seen: new Uint32Array(Math.ceil(this.window / 32)), lastAcceptedAt: now };
      this.mark(w, seq);
      this.senders.set(sender, w);
      return "ok";
    }
    if (epoch < w.epoch) return "stale-epoch";
    if (seq > w.max) {
      const gap = seq - w.max;
      if (gap >= this.window) w.seen.fill(0);
      else for (let s = w.max + 1; s < seq; s++) this.unmark(w, s);
      w.max = seq;
      this.mark(w, seq);
      w.lastAcceptedAt = now;
      return "ok";
    }
    if (w.max - seq >= this.window) return "replay";
    if (this.isMarked(w, seq)) return "replay";
    this.mark(w, seq);
    w.lastAcceptedAt = now;
    return "ok";
  }

  private mark(w: SenderWindow, seq: number): void {
    const slot = seq % this.window;
    w.seen[slot >>> 5] = (w.seen[slot >>> 5] as number) | (1 << (slot & 31));
  }

  private unmark(w: SenderWindow, seq: number): void {
    const slot = seq % this.window;
    w.seen[slot >>> 5] = (w.seen[slot >>> 5] as number) & ~(1 << (slot & 31));
  }

  private isMarked(w: SenderWindow, seq: number): boolean {
    const slot = seq % this.window;
    return ((w.seen[slot >>> 5] as number) & (1 << (slot & 31))) !== 0;
  }

  forget(sender: string): void {
    this.senders.delete(sender);
  }

  private evictOldest(): void {
    let oldest: string | undefined;
    let at = Infinity;
    for (const [k, v] of this.senders)
      if (v.lastAcceptedAt < at) {
        at = v.lastAcceptedAt;
        oldest = k;
      }
    if (oldest !== undefined) this.senders.delete(oldest);
  }
}
