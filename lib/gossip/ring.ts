// Who watches whom on the heartbeat fast path. Members are placed on a ring by a hash of their name; each
// member sends heartbeats to its next `k` successors and watches its `k` predecessors. With N−1 ≤ k it is
// a full mesh. Every member computes the same ring from the same membership view, so no coordination is
// needed; brief disagreement during churn only causes a suspicion that the suspect refutes at once.

export function ringHash(name: string): number {
  // FNV-1a 32-bit: stable across nodes and cheap.
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface RingView {
  /** Members we send heartbeats to. */
  successors: string[];
  /** Members we expect heartbeats from. */
  predecessors: string[];
}

const hashCache = new Map<string, number>();
function cachedHash(name: string): number {
  let h = hashCache.get(name);
  if (h === undefined) {
    if (hashCache.size > 100_000) hashCache.clear();
    h = ringHash(name);
    hashCache.set(name, h);
  }
  return h;
}

/** `members` must include `self`; order does not matter. */
export function ringNeighbours(self: string, members: readonly string[], k: number): RingView {
  const keyed = [...new Set(members)].map((name) => ({ name, h: cachedHash(name) }));
  keyed.sort((a, b) => a.h - b.h || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const sorted = keyed.map((x) => x.name);
  const n = sorted.length;
  const i = sorted.indexOf(self);
  if (i < 0 || n <= 1) return { successors: [], predecessors: [] };
  const count = Math.min(k, n - 1);
  const successors: string[] = [];
  const predecessors: string[] = [];
  for (let d = 1; d <= count; d++) {
    successors.push(sorted[(i + d) % n] as string);
    predecessors.push(sorted[(i - d + n) % n] as string);
  }
  return { successors, predecessors };
}
