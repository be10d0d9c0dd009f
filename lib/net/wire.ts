// Byte-level helpers shared by the frame builders and parsers: MAC and IP <-> bytes.
import { formatValue, parseIp, type Family } from "../ip";
import { cachedIn } from "../bounded-cache";
import { ipv6GroupsToBytes } from "../ipv6-text";

export const BROADCAST_MAC = "ff:ff:ff:ff:ff:ff";
export const ZERO_MAC = "00:00:00:00:00:00";

/**
 * Parsed MACs: a host has a handful, and a 10,000-VIP takeover builds two frames per VIP from the same one
 * (parsing it each time was ~7 % of a starting node's main thread). Bounded in case of churn.
 */
const parsedMacs = new Map<string, Uint8Array>();
const PARSED_MACS_MAX = 64;

/** The MAC's 6 bytes, parsed once (shared: do not write into them); throws for a text that is no MAC. */
function parsedMac(mac: string): Uint8Array {
  return cachedIn(parsedMacs, PARSED_MACS_MAX, mac, () => {
    const parts = mac.split(":");
    if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
      throw new Error(`invalid MAC address ${JSON.stringify(mac)}`);
    }
    return Uint8Array.from(parts, (p) => parseInt(p, 16));
  });
}

/** A fresh buffer of the MAC's 6 bytes (callers may write into it). */
export function macToBytes(mac: string): Buffer {
  return Buffer.from(parsedMac(mac));
}

/**
 * Writes the MAC's 6 bytes into `target` at `offset`, without the copy macToBytes makes: frames are built
 * per VIP at takeover (a 10,000-VIP survivor builds thousands in its first second), and each fresh buffer
 * is garbage for the young generation.
 */
export function writeMac(target: Uint8Array, offset: number, mac: string): void {
  target.set(parsedMac(mac), offset);
}

/**
 * Writes the IP's network-order bytes into `target` at `offset` (4 or 16 bytes); throws like ipToBytes.
 * Plain dotted quads are parsed straight into the target: no buffer per address.
 */
export function writeIp(target: Uint8Array, offset: number, text: string, family: Family): void {
  if (family === 4 && writePlainIpv4(text, target, offset)) return;
  target.set(ipToBytes(text, family), offset);
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
  const fast = family === 4 ? plainIpv4(text) : ipv6GroupsToBytes(text);
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
  return writePlainIpv4(text, out, 0) ? out : undefined;
}

/** plainIpv4 into `target` at `offset`; false (and `target` partly written) for any other form. */
function writePlainIpv4(text: string, target: Uint8Array, offset: number): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46; // a "." closes the last part
    if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return false; // a leading zero
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return false;
    } else if (c === 46) {
      if (digits === 0 || part > 3) return false;
      target[offset + part++] = value;
      value = 0;
      digits = 0;
    } else return false;
  }
  return part === 4;
}

/** IPv4 texts by their 32-bit value: the same string for the same address, without BigInt arithmetic. */
const ipv4Texts = new Map<number, string>();
const IPV4_TEXTS_MAX = 65_536;

/**
 * The text of the IPv4 address in bytes `at`..`at + 3` of `bytes`, without a view of them: ARP frames and
 * address notifications bring tens of thousands in a large takeover.
 */
export function ipv4At(bytes: Uint8Array, at: number): string {
  const value = ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
  let text = ipv4Texts.get(value);
  if (text === undefined) {
    if (ipv4Texts.size >= IPV4_TEXTS_MAX) ipv4Texts.clear();
    text = `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
    ipv4Texts.set(value, text);
  }
  return text;
}

export function bytesToIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return ipv4At(bytes, 0);
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return formatValue(6, v);
}
