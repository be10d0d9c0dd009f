// Pool address entries (MetalLB's ParseCIDR) and the strict no-overlap rule between all pools. Ranges are
// summarised into CIDRs, never expanded into addresses, so a range of 2^32 addresses costs one CIDR.
import { formatCidr, formatIp, parseCidr, parseIp, summarizeRange, type Cidr } from "../ip";
import { quote } from "./diagnostics";

/** CIDRs for one `spec.addresses` entry, or MetalLB's error text (without the pool wrapper). */
export function parseAddressEntry(entry: string): { cidrs: Cidr[] } | { error: string } {
  if (!entry.includes("-")) {
    const cidr = parseCidr(entry);
    return cidr ? { cidrs: [cidr] } : { error: `invalid CIDR ${quote(entry)}` };
  }
  const dash = entry.indexOf("-");
  const startText = entry.slice(0, dash);
  const endText = entry.slice(dash + 1);
  const start = parseIp(startText.trim());
  if (!start) return { error: `invalid IP range ${quote(entry)}: invalid start IP ${quote(startText)}` };
  const end = parseIp(endText.trim());
  if (!end) return { error: `invalid IP range ${quote(entry)}: invalid end IP ${quote(endText)}` };
  // MetalLB has no such check and silently turns some mixed ranges into zero addresses; we refuse them.
  if (start.family !== end.family) {
    return {
      error: `invalid IP range ${quote(entry)}: start IP ${quote(formatIp(start))} and end IP ${quote(formatIp(end))} are of different address families`,
    };
  }
  if (start.value > end.value) {
    return {
      error: `invalid IP range ${quote(entry)}: start IP ${quote(formatIp(start))} is after the end IP ${quote(formatIp(end))}`,
    };
  }
  return { cidrs: summarizeRange(start, end) };
}

interface Defined {
  readonly cidr: Cidr;
  readonly last: bigint;
  /** Definition order, so a conflict names the earliest CIDR it meets, as MetalLB's loop does. */
  readonly order: number;
}

/**
 * The set of CIDRs defined so far, per family, kept sorted and disjoint (a CIDR that overlaps is reported
 * and not added). Lookups are binary searches, so thousands of pools stay fast.
 */
export class CidrRegistry {
  private readonly byFamily = new Map<number, Defined[]>();
  private count = 0;

  /** MetalLB's overlap error text, or undefined after recording the CIDR. */
  define(cidr: Cidr, pool: string): string | undefined {
    const list = this.byFamily.get(cidr.family) ?? [];
    this.byFamily.set(cidr.family, list);
    const last = cidr.network + (1n << BigInt((cidr.family === 4 ? 32 : 128) - cidr.prefix)) - 1n;
    // First defined interval whose end is >= our start; overlapping ones follow contiguously.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid].last < cidr.network) lo = mid + 1;
      else hi = mid;
    }
    let earliest: Defined | undefined;
    for (let i = lo; i < list.length && list[i].cidr.network <= last; i++) {
      if (!earliest || list[i].order < earliest.order) earliest = list[i];
    }
    if (earliest) {
      return `CIDR ${quote(formatCidr(cidr))} in pool ${quote(pool)} overlaps with already defined CIDR ${quote(formatCidr(earliest.cidr))}`;
    }
    const entry = { cidr, last, order: this.count++ };
    if (lo === list.length) list.push(entry);
    else list.splice(lo, 0, entry);
    return undefined;
  }
}
