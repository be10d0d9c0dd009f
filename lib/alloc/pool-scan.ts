// The address pools as the allocator walks them. Pools can be a /8, an IPv6 /64 or a 2^32 range, so
// nothing here expands a CIDR: each CIDR keeps a cursor at its lowest possibly-free address and steps only
// over addresses that are taken (or skipped by avoidBuggyIPs). Within one run addresses are only ever
// taken, never released, so the cursor never has to move back and the total walk is bounded by the number
// of addresses in use.
import type { AddressPool } from "../config/types";
import { cidrLast, cidrSize, type Family } from "../ip";
import type { Claimant, IpTable } from "./ip-table";

export interface ScannedCidr {
  readonly family: Family;
  readonly first: bigint;
  readonly last: bigint;
  /** No free address below this one. */
  cursor: bigint;
}

export interface ScannedPool {
  readonly pool: AddressPool;
  readonly cidrs: readonly ScannedCidr[];
}

/** At most one candidate per family, as MetalLB's getFreeIPsFromPool keeps. */
export interface PoolCandidates {
  readonly pool: string;
  readonly ipv4?: bigint;
  readonly ipv6?: bigint;
}

export function scanPool(pool: AddressPool): ScannedPool {
  return {
    pool,
    cidrs: pool.cidrs.map((c) => ({
      family: c.family,
      first: c.network,
      last: cidrLast(c),
      cursor: c.network,
    })),
  };
}

/** `.0` and `.255` IPv4 addresses. */
export function isBuggyValue(family: Family, value: bigint): boolean {
  if (family !== 4) return false;
  const lastOctet = value & 0xffn;
  return lastOctet === 0n || lastOctet === 255n;
}

/** Whether the pool hands out this address (MetalLB's poolFor: avoidBuggyIPs pools do not even match them). */
export function poolOffers(scanned: ScannedPool, family: Family, value: bigint): boolean {
  if (scanned.pool.avoidBuggyIPs && isBuggyValue(family, value)) return false;
  return scanned.cidrs.some((c) => c.family === family && value >= c.first && value <= c.last);
}

/**
 * The first address of each family, walking CIDRs in `addresses` order, that the claimant may use: the
 * lowest free one or a lower one it can share.
 */
export function freeCandidates(scanned: ScannedPool, claimant: Claimant, table: IpTable): PoolCandidates {
  let ipv4: bigint | undefined;
  let ipv6: bigint | undefined;
  const avoid = scanned.pool.avoidBuggyIPs;
  for (const cidr of scanned.cidrs) {
    if ((cidr.family === 4 ? ipv4 : ipv6) !== undefined) continue;
    const skip = (v: bigint): boolean => avoid && isBuggyValue(cidr.family, v);
    const free = lowestFree(cidr, table, skip);
    const shared = table.lowestShareable(claimant, cidr.family, cidr.first, cidr.last, skip);
    const pick = free === undefined ? shared : shared === undefined || free < shared ? free : shared;
    if (pick === undefined) continue;
    if (cidr.family === 4) ipv4 = pick;
    else ipv6 = pick;
  }
  return { pool: scanned.pool.name, ipv4, ipv6 };
}

function lowestFree(cidr: ScannedCidr, table: IpTable, skip: (v: bigint) => boolean): bigint | undefined {
  let v = cidr.cursor;
  while (v <= cidr.last && (table.isUsed(cidr.family, v) || skip(v))) v++;
  cidr.cursor = v;
  return v <= cidr.last ? v : undefined;
}

/** Addresses the pool can hand out per family, after avoidBuggyIPs. Exact in bigint. */
export function poolCapacity(pool: AddressPool): Record<Family, bigint> {
  const total: Record<Family, bigint> = { 4: 0n, 6: 0n };
  for (const c of pool.cidrs) {
    let size = cidrSize(c);
    if (pool.avoidBuggyIPs && c.family === 4) {
      if (c.prefix <= 24) size -= 2n * (1n << BigInt(24 - c.prefix));
      else {
        // A CIDR smaller than a /24 holds a .0 only at its start and a .255 only at its end.
        if (isBuggyValue(4, c.network)) size--;
        if (isBuggyValue(4, cidrLast(c))) size--;
      }
    }
    total[c.family] += size;
  }
  return total;
}
