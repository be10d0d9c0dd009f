// Seeded PRNG (sfc32) so every random choice of a node or of the simulated network replays from a seed.

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }

  /** Up to k distinct items, in random order. */
  sample<T>(items: readonly T[], k: number): T[] {
    if (k >= items.length) return this.shuffle([...items]);
    if (k * 4 < items.length) {
      // Few from many: rejection sampling avoids copying the whole list.
      const picked = new Set<number>();
      const out: T[] = [];
      while (out.length < k) {
        const j = this.int(items.length);
        if (picked.has(j)) continue;
        picked.add(j);
        out.push(items[j] as T);
      }
      return out;
    }
    const copy = [...items];
    const out: T[] = [];
    for (let i = 0; i < k; i++) {
      const j = i + this.int(copy.length - i);
      const picked = copy[j] as T;
      copy[j] = copy[i] as T;
      copy[i] = picked;
      out.push(picked);
    }
    return out;
  }
}
