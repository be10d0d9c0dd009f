// The election hashes a group plan has computed, kept compact. A plan exists per VIP group, so at 10,000
// VIPs a Map each (an ordered hash table of ~0.5 KB for three members) was ~6 MB of a node's heap; then an
// array of the 64-hex-digit strings, ~80 bytes each, was ~2.4 MB. A plan now holds one array of doubles
// indexed by the node's number in a process-wide table of node names (which only grows with names ever
// seen: a cluster's members over the life of the daemon), each the hash's rank: its first 13 hex digits as a
// number. 52 bits are exact in a double and order as the text does; equal ranks (one pair in 2^52) are
// settled on the whole hash (electionOrder), and `vipd status` recomputes the hash it shows.

/** No rank for that node yet (a hole in a double array is never a valid rank). */
const UNSET = Number.NaN;
const NONE: number[] = [];
/** A packed array of UNSET (an array literal of doubles is packed): setRank's filler. */
const UNSET_RUN: number[] = [UNSET, UNSET, UNSET, UNSET, UNSET, UNSET, UNSET, UNSET];
const nodeNumbers = new Map<string, number>();
const nodeNames: string[] = [];

function numberOf(node: string): number {
  let n = nodeNumbers.get(node);
  if (n === undefined) {
    n = nodeNames.length;
    nodeNumbers.set(node, n);
    nodeNames.push(node);
  }
  return n;
}

/** The rank of a hex hash: its first 13 digits (52 bits) as a number, ordered as the hash text is. */
export function hashRank(hash: string): number {
  if (!/^[0-9a-f]{13}/.test(hash)) throw new Error(`not a hex hash: ${hash}`);
  return Number.parseInt(hash.slice(0, 13), 16);
}

export class ElectionHashes {
  /** Indexed by node number, UNSET where unknown; exact-size doubles, shared empty until the first rank. */
  private byNode: number[] = NONE;

  rank(node: string): number | undefined {
    const n = nodeNumbers.get(node);
    const rank = n === undefined ? UNSET : (this.byNode[n] ?? UNSET);
    return Number.isNaN(rank) ? undefined : rank;
  }

  /** Whether `node` has a rank here (without the boxed double rank() returns). */
  hasRank(node: string): boolean {
    const n = nodeNumbers.get(node);
    if (n === undefined || n >= this.byNode.length) return false;
    const rank = this.byNode[n] as number;
    // Not Number.isNaN: Node 20's optimizing compiler calls it with the double boxed (16 bytes a call).
    return rank === rank;
  }

  /**
   * The order of two nodes' ranks (-1, 0 or 1), both set. Compared here rather than returned: a double that
   * leaves an uninlined call is boxed, and the steady pass compared ~4 ranks per group every second. Indexes
   * are bounds-checked first: a load that may be out of bounds is a double-or-undefined, boxed as well.
   */
  compareRanks(a: string, b: string): number {
    const byNode = this.byNode;
    const i = nodeNumbers.get(a);
    const j = nodeNumbers.get(b);
    if (i === undefined || j === undefined || i >= byNode.length || j >= byNode.length)
      throw new Error(`no election rank for ${a} or ${b}`);
    const x = byNode[i] as number;
    const y = byNode[j] as number;
    // NaN is UNSET (x !== x: see hasRank).
    if (x !== x || y !== y) throw new Error(`no election rank for ${a} or ${b}`);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  setRank(node: string, rank: number): void {
    const n = numberOf(node);
    if (n >= this.byNode.length) {
      // Grown to the exact size by concatenating packed double arrays: the result is packed doubles too. An
      // array made by new Array(n).fill() is "holey", and each read of it, a double or a hole, was boxed
      // into a fresh heap number by the optimizing compiler (hasRank and compareRanks, every pass).
      let grown = this.byNode;
      for (let missing = n + 1 - grown.length; missing > 0; missing -= UNSET_RUN.length)
        grown = grown.concat(UNSET_RUN.slice(0, missing));
      this.byNode = grown;
    }
    this.byNode[n] = rank;
  }

  /** Whether no node has a rank here (size === 0, without counting them all). */
  get empty(): boolean {
    for (const rank of this.byNode) if (rank === rank) return false; // NaN is UNSET
    return true;
  }

  /** How many nodes have a rank here. */
  get size(): number {
    let count = 0;
    for (const rank of this.byNode) if (!Number.isNaN(rank)) count++;
    return count;
  }

  *[Symbol.iterator](): IterableIterator<[string, number]> {
    for (const [n, rank] of this.byNode.entries())
      if (!Number.isNaN(rank)) yield [nodeNames[n] as string, rank];
  }
}
