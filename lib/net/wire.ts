// Byte-level helpers shared by the frame builders and parsers: MAC and IP <-> bytes.
import { formatValue, parseIp, type Family } from "../ip";

export const BROADCAST_MAC = "ff:ff:ff:ff:ff:ff";
export const ZERO_MAC = "00:00:00:00:00:00";

/**
 * Parsed MACs: a host has a handful, and a 10,000-VIP takeover builds two frames per VIP from the same one
 * (parsing it each time was ~7 % of a starting node's main thread). Bounded in case of churn.
 */
const parsedMacs = new Map<string, Uint8Array>();
const PARSED_MACS_MAX = 64;

/** A fresh buffer of the MAC's 6 bytes (callers may write into it). */
export function macToBytes(mac: string): Buffer {
  let bytes = parsedMacs.get(mac);
  if (bytes === undefined) {
    const parts = mac.split(":");
    if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
      throw new Error(`invalid MAC address ${JSON.stringify(mac)}`);
    }
    bytes = Uint8Array.from(parts, (p) => parseInt(p, 16));
    if (parsedMacs.size >= PARSED_MACS_MAX) parsedMacs.clear();
    parsedMacs.set(mac, bytes);
  }
  return Buffer.from(bytes);
}

/** "00".."ff" by byte value. */
const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/**
 * The first 6 bytes as a MAC. Every ARP frame a node hears is parsed (its conflict watch): a peer's
 * takeover burst is thousands a second, and an array, a closure and a padStart per byte showed at ~45 ms of
 * a survivor's first second after a 10,000-VIP death (cpu-prof).
 */
export function bytesToMac(bytes: Uint8Array): string {
  return `${HEX_BYTE[bytes[0] ?? 0]}:${HEX_BYTE[bytes[1] ?? 0]}:${HEX_BYTE[bytes[2] ?? 0]}:${HEX_BYTE[bytes[3] ?? 0]}:${HEX_BYTE[bytes[4] ?? 0]}:${HEX_BYTE[bytes[5] ?? 0]}`;
}

/** Network-order bytes of an IP; throws on text that is not an IP of the expected family. */
export function ipToBytes(text: string, family: Family): Buffer {
  // Frames are built per VIP at takeover, thousands at once: plain forms are parsed here directly,
  // anything else (embedded IPv4, odd spacing) goes through the strict bigint parser.
  const fast = family === 4 ? plainIpv4(text) : plainIpv6(text);
  if (fast) return fast;
  const ip = parseIp(text);
  if (!ip || ip.family !== family) throw new Error(`not an IPv${family} address: ${JSON.stringify(text)}`);
  const out = Buffer.alloc(family === 4 ? 4 : 16);
  let v = ip.value;
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/**
 * Dotted-quad IPv4 without leading zeros, parsed by hand: frames and netlink requests are built per VIP at
 * takeover, and a regex plus Buffer.from(array) per address was ~100 ms of a 10,000-VIP survivor's first
 * second after the death (cpu-prof of the scale bench).
 */
function plainIpv4(text: string): Buffer | undefined {
  const out = Buffer.allocUnsafe(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46; // a "." closes the last part
    if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return undefined; // a leading zero
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return undefined;
    } else if (c === 46) {
      if (digits === 0 || part > 3) return undefined;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else return undefined;
  }
  return part === 4 ? out : undefined;
}

/**
 * Hex groups with at most one `::`; undefined for other forms and for IPv4-mapped addresses (family 4).
 * Parsed by hand like plainIpv4: every NA of a takeover parses its VIP, and split, a regex per group and
 * forEach were the largest part of building one (3,000 NAs, cpu-prof of bench/net's announcer path).
 */
function plainIpv6(text: string): Buffer | undefined {
  const groups = IPV6_GROUPS;
  let count = 0;
  /** Where `::` stood: how many groups came before it; -1 without one. */
  let gap = -1;
  let value = 0;
  let digits = 0;
  const length = text.length;
  if (length < 2) return undefined;
  let i = 0;
  if (text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return undefined; // a lone leading ":"
    gap = 0;
    i = 2;
    if (i === length) return zeroFilled(groups, 0, 0);
  }
  for (; i <= length; i++) {
    const c = i < length ? text.charCodeAt(i) : 58; // a ":" closes the last group
    const hex = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (hex >= 0) {
      if (++digits > 4) return undefined;
      value = value * 16 + hex;
    } else if (c === 58) {
      if (digits === 0) return undefined;
      if (count === 8) return undefined;
      groups[count++] = value;
      value = 0;
      digits = 0;
      if (i + 1 < length && text.charCodeAt(i + 1) === 58) {
        if (gap >= 0) return undefined; // a second "::"
        gap = count;
        i++;
        if (i + 1 === length) break; // a trailing "::"
      }
    } else return undefined;
  }
  if (gap < 0 ? count !== 8 : count > 7) return undefined;
  return zeroFilled(groups, count, gap);
}

/** Scratch for plainIpv6's groups (single-threaded use, read out before returning). */
const IPV6_GROUPS = new Array<number>(8).fill(0);

/** 16 bytes from `count` parsed groups with zeros at `gap` (-1: none); undefined for IPv4-mapped. */
function zeroFilled(groups: readonly number[], count: number, gap: number): Buffer | undefined {
  const out = Buffer.alloc(16);
  const before = gap < 0 ? count : gap;
  for (let g = 0; g < before; g++) out.writeUInt16BE(groups[g] as number, g * 2);
  const after = count - before;
  for (let g = 0; g < after; g++) out.writeUInt16BE(groups[before + g] as number, (8 - after + g) * 2);
  // ::ffff:0:0/96 is an IPv4 address to parseIp (Go's rule); leave it to the strict path.
  if (out.readUInt16BE(10) === 0xffff && out.subarray(0, 10).every((b) => b === 0)) return undefined;
  return out;
}

export function bytesToIp(bytes: Uint8Array): string {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return formatValue(bytes.length === 4 ? 4 : 6, v);
}
