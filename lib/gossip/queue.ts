// Broadcast queue: each membership update is sent to `limit` (λ·log N) randomly chosen members — in gossip
// rounds and immediate pushes — before it is dropped. Until then it also rides for free on every other
// packet (heartbeats, acks), which go to fixed ring neighbours and so must not use up the count: an
// epidemic only works with random targets. A newer update about the same member replaces the older one,
// and the least-sent updates go first so fresh news spreads before old news is repeated.

interface Item {
  key: string;
  message: Buffer;
  transmits: number;
  order: number;
}

export class BroadcastQueue {
  private items: Item[] = [];
  private order = 0;

  get length(): number {
    return this.items.length;
  }

  /** `alreadySent`: random members the caller pushed it to directly. */
  enqueue(key: string, message: Buffer, alreadySent = 0): void {
    this.items = this.items.filter((i) => i.key !== key);
    this.items.push({ key, message, transmits: alreadySent, order: this.order++ });
  }

  /**
   * Takes messages fitting in `budget` bytes (each costs its length + `perMessageOverhead`), up to
   * `maxCount`, skipping `exclude`. Only `counted` sends (to random members) use up the transmit count.
   */
  take(
    budget: number,
    limit: number,
    counted: boolean,
    perMessageOverhead = 2,
    maxCount = 64,
    exclude?: readonly Buffer[],
  ): Buffer[] {
    if (this.items.length === 0) return [];
    if (this.items.length > 1) this.items.sort((a, b) => a.transmits - b.transmits || b.order - a.order);
    const out: Buffer[] = [];
    let left = budget;
    let drop = false;
    for (const it of this.items) {
      if (out.length >= maxCount) break;
      const cost = it.message.length + perMessageOverhead;
      if (cost > left || exclude?.includes(it.message)) continue;
      left -= cost;
      out.push(it.message);
      if (!counted) continue;
      it.transmits++;
      if (it.transmits >= limit) drop = true;
    }
    if (drop) this.items = this.items.filter((i) => i.transmits < limit);
    return out;
  }

  clear(): void {
    this.items = [];
  }
}
