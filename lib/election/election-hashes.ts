// The election hashes a group plan has computed, node -> electionHash(node, electionIp), kept compact. A plan
// exists per VIP group, so at 10,000 VIPs a Map each (an ordered hash table of ~0.5 KB for three members)
// was ~6 MB of a node's heap. Here a plan holds one small array indexed by the node's number in a
// process-wide table of node names, which only grows with names ever seen (a cluster's members over the
// life of the daemon).

const NONE: undefined[] = [];
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

export class ElectionHashes {
  /** Indexed by node number; exact-size, shared empty until the first hash (NONE is never written). */
  private byNode: (string | undefined)[] = NONE;

  get(node: string): string | undefined {
    const n = nodeNumbers.get(node);
    return n === undefined ? undefined : this.byNode[n];
  }

  set(node: string, hash: string): void {
    const n = numberOf(node);
    // Grown to the exact size (push would leave room for 16 more), packed.
    if (n >= this.byNode.length) this.byNode = Array.from({ length: n + 1 }, (_, i) => this.byNode[i]);
    this.byNode[n] = hash;
  }

  /** How many nodes have a hash here. */
  get size(): number {
    let count = 0;
    for (const h of this.byNode) if (h !== undefined) count++;
    return count;
  }

  *[Symbol.iterator](): IterableIterator<[string, string]> {
    for (const [n, hash] of this.byNode.entries())
      if (hash !== undefined) yield [nodeNames[n] as string, hash];
  }
}
