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
  seen: Uint8Array;
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
      w = { epoch, max: seq, seen: new Uint8Array(this.window), lastAcceptedAt: now };
      w.seen[seq % this.window] = 1;
      this.senders.set(sender, w);
      return "ok";
    }
    if (epoch < w.epoch) return "stale-epoch";
    if (seq > w.max) {
      const gap = seq - w.max;
      if (gap >= this.window) w.seen.fill(0);
      else for (let s = w.max + 1; s < seq; s++) w.seen[s % this.window] = 0;
      w.max = seq;
      w.seen[seq % this.window] = 1;
      w.lastAcceptedAt = now;
      return "ok";
    }
    if (w.max - seq >= this.window) return "replay";
    const slot = seq % this.window;
    if (w.seen[slot]) return "replay";
    w.seen[slot] = 1;
    w.lastAcceptedAt = now;
    return "ok";
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
