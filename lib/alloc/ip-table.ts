// Who holds which address during one allocate() run, and MetalLB's sharing rules over it.
// Holders are only ever added within a run (the allocator validates before it assigns), which is what
// lets the pool scan keep a monotone "lowest free address" cursor per CIDR.
import { appended } from "../arrays";
import { formatValue, type Family } from "../ip";
import { quoteGo } from "./go-format";

/** The sharing identity of a service: MetalLB's (allow-shared-ip, backend key) pair. */
export interface SharingKey {
  readonly sharing: string;
  readonly backend: string;
}

/** What an allocation request needs to know for sharing checks. */
export interface Claimant {
  readonly service: string;
  /** `TCP/53`-style keys, MetalLB's Port.String(). */
  readonly ports: readonly string[];
  readonly key: SharingKey;
}

export interface IpHolder {
  readonly family: Family;
  readonly value: bigint;
  readonly text: string;
  readonly pool: string;
  key: SharingKey;
  /**
   * Port key, service holding it, port key, ...: a few entries per address, and the allocator keeps a
   * holder per VIP between runs (a Map each was ~1 KB, 10 MB at 10,000 VIPs). Replaced, not grown, so
   * each array is its exact size.
   */
  portOwners: readonly string[];
  services: readonly string[];
}

const NONE: readonly string[] = Object.freeze([]);

/** The service holding `port` on `holder`, if any. */
function portOwner(holder: IpHolder, port: string): string | undefined {
  const owners = holder.portOwners;
  for (let i = 0; i < owners.length; i += 2) if (owners[i] === port) return owners[i + 1];
  return undefined;
}

/** `holder.portOwners` with `port` held by `service` (its earlier holder replaced, as Map.set did). */
function withPortOwner(owners: readonly string[], port: string, service: string): readonly string[] {
  for (let i = 0; i < owners.length; i += 2)
    if (owners[i] === port)
      return owners[i + 1] === service ? owners : owners.map((x, j) => (j === i + 1 ? service : x));
  return appended(owners, port, service);
}

export class IpTable {
  private byFamily: Record<Family, Map<bigint, IpHolder>> = { 4: new Map(), 6: new Map() };
  /** Holders grouped by sharing key, so shareable addresses are found without walking a pool. */
  private readonly bySharingKey = new Map<string, Set<IpHolder>>();

  holder(family: Family, value: bigint): IpHolder | undefined {
    return this.byFamily[family].get(value);
  }

  isUsed(family: Family, value: bigint): boolean {
    return this.byFamily[family].has(value);
  }

  /** MetalLB's checkSharing: undefined when the claimant may use the address, else the error text. */
  checkSharing(claimant: Claimant, family: Family, value: bigint): string | undefined {
    const existing = this.byFamily[family].get(value);
    if (!existing) return undefined;
    if (sharingError(existing.key, claimant.key) !== undefined) {
      const others = existing.services.filter((s) => s !== claimant.service);
      if (others.length > 0) {
        // MetalLB lists the others in Go map order (random); sorted here so messages are reproducible.
        return `can't change sharing key for ${quoteGo(claimant.service)}, address also in use by ${[...others].sort().join(",")}`;
      }
    }
    for (const port of claimant.ports) {
      const owner = portOwner(existing, port);
      if (owner !== undefined && owner !== claimant.service) {
        return `port ${port} is already in use on ${quoteGo(existing.text)}`;
      }
    }
    return undefined;
  }

  /** Lowest address in [first, last] already held under the claimant's key that it may join, if any. */
  lowestShareable(
    claimant: Claimant,
    family: Family,
    first: bigint,
    last: bigint,
    skip: (v: bigint) => boolean,
  ) {
    if (claimant.key.sharing === "") return undefined;
    let best: bigint | undefined;
    for (const holder of this.bySharingKey.get(indexKey(claimant.key)) ?? []) {
      const v = holder.value;
      if (holder.family !== family || v < first || v > last || (best !== undefined && v >= best) || skip(v))
        continue;
      if (this.checkSharing(claimant, family, v) === undefined) best = v;
    }
    return best;
  }

  /** Records the claim; the caller has already run checkSharing on every address. */
  assign(claimant: Claimant, pool: string, ips: readonly { family: Family; value: bigint }[]): void {
    for (const ip of ips) {
      let holder = this.byFamily[ip.family].get(ip.value);
      if (!holder) {
        holder = {
          family: ip.family,
          value: ip.value,
          text: formatValue(ip.family, ip.value),
          pool,
          key: claimant.key,
          portOwners: NONE,
          services: NONE,
        };
        this.byFamily[ip.family].set(ip.value, holder);
      } else if (indexKey(holder.key) !== indexKey(claimant.key)) {
        // Only reachable when the claimant is the sole user: MetalLB updates the key in place.
        this.unindex(holder);
        holder.key = claimant.key;
      }
      this.index(holder);
      for (const port of claimant.ports)
        holder.portOwners = withPortOwner(holder.portOwners, port, claimant.service);
      if (!holder.services.includes(claimant.service))
        holder.services = appended(holder.services, claimant.service);
    }
  }

  /**
   * A copy of this table without the holders of `released`. The holders are shared, not copied: only for
   * tables no claim will join (allocator.ts keeps runs without sharing keys, one service per address).
   */
  without(released: readonly { family: Family; value: bigint }[]): IpTable {
    const table = new IpTable();
    for (const family of [4, 6] as const) table.byFamily[family] = new Map(this.byFamily[family]);
    for (const [key, holders] of this.bySharingKey) table.bySharingKey.set(key, new Set(holders));
    for (const ip of released) {
      const holder = table.byFamily[ip.family].get(ip.value);
      if (holder === undefined) continue;
      table.byFamily[ip.family].delete(ip.value);
      table.unindex(holder);
    }
    return table;
  }

  holders(): IterableIterator<IpHolder> {
    return concat(this.byFamily[4].values(), this.byFamily[6].values());
  }

  /** Only addresses under a non-empty key can ever be shared, so only those are indexed. */
  private index(holder: IpHolder): void {
    if (holder.key.sharing === "") return;
    const k = indexKey(holder.key);
    const set = this.bySharingKey.get(k);
    if (set) set.add(holder);
    else this.bySharingKey.set(k, new Set([holder]));
  }

  private unindex(holder: IpHolder): void {
    this.bySharingKey.get(indexKey(holder.key))?.delete(holder);
  }
}

/** MetalLB's sharingOK; the texts only matter for debugging, callers report checkSharing's message. */
export function sharingError(existing: SharingKey, wanted: SharingKey): string | undefined {
  if (existing.sharing === "") return "existing service does not allow sharing";
  if (wanted.sharing === "") return "new service does not allow sharing";
  if (existing.sharing !== wanted.sharing) {
    return `sharing key ${quoteGo(wanted.sharing)} does not match existing sharing key ${quoteGo(existing.sharing)}`;
  }
  if (existing.backend !== wanted.backend) {
    return `backend key ${quoteGo(wanted.backend)} does not match existing sharing key ${quoteGo(existing.backend)}`;
  }
  return undefined;
}

function indexKey(key: SharingKey): string {
  return `${key.sharing}\u0000${key.backend}`;
}

function* concat<T>(...iterators: Iterable<T>[]): IterableIterator<T> {
  for (const it of iterators) yield* it;
}
