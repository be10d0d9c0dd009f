// IP arithmetic on bigints. ipaddr.js does the parsing and formatting; ranges, containment and
// summarisation need integer maths that it does not offer, and that MetalLB's semantics depend on.
import ipaddr from "ipaddr.js";
import { formatIpv6, parseIpv6Groups } from "./ipv6-text";

export type Family = 4 | 6;

export interface Ip {
  readonly family: Family;
  readonly value: bigint;
}

export interface Cidr {
  readonly family: Family;
  /** Network address, host bits cleared. */
  readonly network: bigint;
  readonly prefix: number;
}

export const familyBits = (family: Family): number => (family === 4 ? 32 : 128);

/** ipaddr.js's own four-part-decimal pattern (isValidFourPartDecimal requires it as well). */
const FOUR_PART_DECIMAL = /^(0|[1-9]\d*)(\.(0|[1-9]\d*)){3}$/;

/**
 * Parsed addresses by text. The same few thousand VIP texts are parsed on every reload (allocation,
 * interface choice, families), and ipaddr.js's parser is the bulk of that; results are immutable, so they
 * are shared. Cleared when full, so a stream of distinct texts cannot grow it without bound.
 */
const parsedIps = new Map<string, Ip | undefined>();
const PARSED_IPS_MAX = 65_536;

/** Strict parse: dotted-quad decimal IPv4 or IPv6 without a zone. Returns undefined when invalid. */
export function parseIp(text: string): Ip | undefined {
  const known = parsedIps.get(text);
  if (known !== undefined || parsedIps.has(text)) return known;
  const ip = parseIpUncached(text);
  if (parsedIps.size >= PARSED_IPS_MAX) parsedIps.clear();
  parsedIps.set(text, ip === undefined ? undefined : Object.freeze(ip));
  return ip;
}

function parseIpUncached(text: string): Ip | undefined {
  const s = text.trim();
  if (s !== text || s.length === 0 || s.includes("%")) return undefined;
  // The pattern first: ipaddr's isValid tries a full parse and throws (a stack trace per call) on every
  // IPv6 text, which made parsing 10,000 IPv6 VIPs per reconcile cost seconds.
  if (FOUR_PART_DECIMAL.test(s)) {
    // The pattern leaves only decimal parts without leading zeros: each must be a byte (ipaddr.js's
    // isValidFourPartDecimal and parse, without their regular expressions; test/unit/ipv6-text.test.ts).
    const parts = s.split(".").map(Number);
    if (parts.some((part) => part > 255)) return undefined;
    return { family: 4, value: BigInt(parts.reduce((value, part) => value * 256 + part, 0)) };
  }
  // Hex groups alone (every address vipd formats, nearly every one it reads) skip ipaddr.js's regular
  // expressions (lib/ipv6-text.ts); a dotted IPv4 tail still goes through ipaddr.js.
  if (s.includes(":") && !s.includes(".")) {
    const value = parseIpv6Groups(s);
    if (value === undefined) return undefined;
    // ::ffff:a.b.c.d written in hex is the same IPv4-mapped address.
    return value >> 32n === 0xffffn ? { family: 4, value: value & 0xffffffffn } : { family: 6, value };
  }
  if (s.includes(":") && ipaddr.IPv6.isValid(s)) {
    const addr = ipaddr.IPv6.parse(s);
    // Go treats ::ffff:a.b.c.d as the IPv4 address; so must we, or family checks would disagree.
    if (addr.isIPv4MappedAddress()) {
      return { family: 4, value: bytesToBigint(addr.toIPv4Address().toByteArray()) };
    }
    return { family: 6, value: bytesToBigint(addr.toByteArray()) };
  }
  return undefined;
}

/** Go's net.ParseCIDR: host bits are masked, a prefix beyond the family size is invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (!ip || !/^[0-9]{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > familyBits(ip.family)) return undefined;
  return { family: ip.family, network: ip.value & prefixMask(ip.family, prefix), prefix };
}

export function prefixMask(family: Family, prefix: number): bigint {
  const bits = BigInt(familyBits(family));
  const all = (1n << bits) - 1n;
  return (all >> BigInt(prefix)) ^ all;
}

export function cidrSize(c: Cidr): bigint {
  return 1n << BigInt(familyBits(c.family) - c.prefix);
}

export function cidrLast(c: Cidr): bigint {
  return c.network + cidrSize(c) - 1n;
}

export function cidrContains(c: Cidr, ip: Ip): boolean {
  return c.family === ip.family && ip.value >= c.network && ip.value <= cidrLast(c);
}

/** MetalLB's overlap rule: equal networks, or the shorter prefix contains the other's network. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  return a.network <= cidrLast(b) && b.network <= cidrLast(a);
}

/** Minimal list of CIDRs covering [start, end] (Go's ipaddr.Summarize). Both ends must share a family. */
export function summarizeRange(start: Ip, end: Ip): Cidr[] {
  if (start.family !== end.family || start.value > end.value) return [];
  const bits = familyBits(start.family);
  const out: Cidr[] = [];
  let cursor = start.value;
  while (cursor <= end.value) {
    let hostBits = 0;
    while (hostBits < bits) {
      const size = 1n << BigInt(hostBits + 1);
      if (cursor % size !== 0n || cursor + size - 1n > end.value) break;
      hostBits++;
    }
    out.push({ family: start.family, network: cursor, prefix: bits - hostBits });
    cursor += 1n << BigInt(hostBits);
  }
  return out;
}

export function formatIp(ip: Ip): string {
  return formatValue(ip.family, ip.value);
}

/**
 * Formatted addresses by value, per family. Every reload formats each kept VIP again (allocation, tables,
 * errors), and ipaddr.js's RFC 5952 formatting (a regular expression over the normalised text) was a third
 * of an allocation of 10,000 IPv6 services. Bounded like parsedIps.
 */
const formattedIps: Record<Family, Map<bigint, string>> = { 4: new Map(), 6: new Map() };

export function formatValue(family: Family, value: bigint): string {
  const cache = formattedIps[family];
  const known = cache.get(value);
  if (known !== undefined) return known;
  const text = formatValueUncached(family, value);
  if (cache.size >= PARSED_IPS_MAX) cache.clear();
  cache.set(value, text);
  return text;
}

function formatValueUncached(family: Family, value: bigint): string {
  if (family === 6) return formatIpv6(value);
  const byteCount = 4;
  const bytes: number[] = new Array<number>(byteCount);
  let v = value;
  for (let i = byteCount - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return bytes.join(".");
}

export function formatCidr(c: Cidr): string {
  return `${formatValue(c.family, c.network)}/${c.prefix}`;
}

/** Canonical text of an address, or undefined if it does not parse. Used as map keys everywhere. */
export function canonicalIp(text: string): string | undefined {
  const ip = parseIp(text);
  return ip ? formatIp(ip) : undefined;
}

export function compareIps(a: Ip, b: Ip): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** `.0` and `.255` IPv4 addresses, which avoidBuggyIPs skips. */
export function isBuggyIp(ip: Ip): boolean {
  if (ip.family !== 4) return false;
  const last = ip.value & 0xffn;
  return last === 0n || last === 255n;
}

function bytesToBigint(bytes: number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$/;

/**
 * `host:port`, `[v6]:port`. A listening address needs an IP (port 0 = any free port); a peer may be a
 * host name, port 1-65535. Returns the normalised form (canonical IP, brackets around IPv6).
 */
export function parseHostPort(
  text: string,
  listening: boolean,
): { value: string; host: string; port: number } | { error: string } {
  const m = /^\[([^\]]+)\]:([0-9]+)$/.exec(text) ?? /^([^:[\]]+):([0-9]+)$/.exec(text);
  if (!m) return { error: `${JSON.stringify(text)} is not host:port (write IPv6 as [addr]:port)` };
  const [, host, portText] = m;
  const port = Number(portText);
  const minPort = listening ? 0 : 1;
  if (portText.length > 5 || port < minPort || port > 65535)
    return { error: `port ${portText} is out of range ${minPort}..65535` };
  const ip = parseIp(host);
  if (ip) {
    const canonical = canonicalIp(host) as string;
    return {
      value: ip.family === 6 ? `[${canonical}]:${port}` : `${canonical}:${port}`,
      host: canonical,
      port,
    };
  }
  if (text.startsWith("[")) return { error: `${JSON.stringify(host)} is not an IPv6 address` };
  if (listening)
    return { error: `${JSON.stringify(host)} is not an IP address (listen addresses must be IPs)` };
  if (!HOSTNAME.test(host) || /^[0-9.]+$/.test(host))
    return { error: `${JSON.stringify(host)} is not a valid IP address or host name` };
  return { value: `${host}:${port}`, host, port };
}
