// IPv6 Neighbor Advertisements (RFC 4861 §4.4, §7.2.6 unsolicited advertisements). Pure: builds the ICMPv6
// message, wraps it in the whole Ethernet + IPv6 frame the packet socket sends (checksum included), and
// parses whole frames for the lab's capture.
import { cachedIn } from "../bounded-cache";
import { bytesToIp, bytesToMac, ipToBytes, macToBytes, writeIp } from "./wire";

export const ETHERTYPE_IPV6 = 0x86dd;
export const IPPROTO_ICMPV6 = 58;
export const ICMPV6_NEIGHBOR_SOLICITATION = 135;
export const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;
export const NDP_OPTION_TARGET_LINK_LAYER = 2;
export const ALL_NODES = "ff02::1";
/** RFC 2464 §7: IPv6 multicast to ff02::1 goes to Ethernet 33:33:00:00:00:01. */
export const ALL_NODES_MAC = "33:33:00:00:00:01";
const ETHERNET_HEADER = 14;
const IPV6_HEADER = 40;
/** RFC 4861 §7.1.2: receivers drop NDP messages whose hop limit is not 255. */
export const NDP_HOP_LIMIT = 255;

const FLAG_ROUTER = 0x80;
const FLAG_SOLICITED = 0x40;
const FLAG_OVERRIDE = 0x20;

export interface NeighborAdvertisement {
  readonly router: boolean;
  readonly solicited: boolean;
  readonly override: boolean;
  readonly target: string;
  /** Target Link-Layer Address option, when present. */
  readonly targetMac?: string;
}

/**
 * ICMPv6 part of an unsolicited NA for `vip`: Override set so receivers replace a cached MAC, Solicited
 * clear (it answers nobody), Target LLA = the interface MAC. The checksum is left zero: ipv6Frame fills it
 * in for the source address the frame is sent from.
 */
export function unsolicitedNeighborAdvertisement(vip: string, interfaceMac: string): Buffer {
  return buildNeighborAdvertisement({
    router: false,
    solicited: false,
    override: true,
    target: vip,
    targetMac: interfaceMac,
  });
}

export function buildNeighborAdvertisement(na: NeighborAdvertisement): Buffer {
  const message = Buffer.alloc(na.targetMac === undefined ? 24 : 32);
  message.writeUInt8(ICMPV6_NEIGHBOR_ADVERTISEMENT, 0);
  message.writeUInt8(0, 1); // code
  message.writeUInt16BE(0, 2); // checksum
  message.writeUInt8(
    (na.router ? FLAG_ROUTER : 0) | (na.solicited ? FLAG_SOLICITED : 0) | (na.override ? FLAG_OVERRIDE : 0),
    4,
  );
  ipToBytes(na.target, 6).copy(message, 8);
  if (na.targetMac !== undefined) {
    message.writeUInt8(NDP_OPTION_TARGET_LINK_LAYER, 24);
    message.writeUInt8(1, 25); // length in units of 8 octets
    macToBytes(na.targetMac).copy(message, 26);
  }
  return message;
}

/** The ICMPv6 checksum over the IPv6 pseudo-header (RFC 8200 §8.1) and the message. */
export function icmpv6Checksum(source: string, destination: string, message: Uint8Array): number {
  const pseudo = Buffer.alloc(40);
  ipToBytes(source, 6).copy(pseudo, 0);
  ipToBytes(destination, 6).copy(pseudo, 16);
  pseudo.writeUInt32BE(message.length, 32);
  pseudo.writeUInt8(IPPROTO_ICMPV6, 39);
  return finishChecksum(onesComplementAdd(onesComplementAdd(0, pseudo), message));
}

/**
 * The whole Ethernet frame carrying `icmp` (an ICMPv6 message, checksum field zero) from `source` to
 * ff02::1 with hop limit 255, the checksum computed for that pseudo-header. `sourceMac` is the sending
 * interface's MAC; `source` should be its link-local address, as the kernel's own unsolicited NAs are.
 */
export function allNodesIcmpv6Frame(sourceMac: string, source: string, icmp: Uint8Array): Buffer {
  // allocUnsafe takes small buffers from Node's shared pool: one frame per VIP is kept for its whole
  // announcement, and a separate ArrayBuffer each would cost more than the frame itself.
  const frame = Buffer.allocUnsafe(ETHERNET_HEADER + IPV6_HEADER + icmp.length).fill(0);
  ALL_NODES_MAC_BYTES.copy(frame, 0);
  macToBytes(sourceMac).copy(frame, 6);
  frame.writeUInt16BE(ETHERTYPE_IPV6, 12);
  const ip = frame.subarray(ETHERNET_HEADER, ETHERNET_HEADER + IPV6_HEADER);
  ip.writeUInt32BE(0x60000000, 0); // version 6, traffic class 0, flow label 0
  ip.writeUInt16BE(icmp.length, 4);
  ip[6] = IPPROTO_ICMPV6;
  ip[7] = NDP_HOP_LIMIT;
  ipToBytes(source, 6).copy(ip, 8);
  ALL_NODES_BYTES.copy(ip, 24);
  const message = frame.subarray(ETHERNET_HEADER + IPV6_HEADER);
  message.set(icmp);
  message.writeUInt16BE(0, 2);
  // Pseudo-header (RFC 8200 §8.1): both addresses straight from the header just written, then the
  // upper-layer length and next header.
  const sum = onesComplementAdd(icmp.length + IPPROTO_ICMPV6, ip.subarray(8, 40));
  message.writeUInt16BE(finishChecksum(onesComplementAdd(sum, message)), 2);
  return frame;
}

/**
 * allNodesIcmpv6Frame(sourceMac, source, unsolicitedNeighborAdvertisement(vip, sourceMac)), the same bytes,
 * built from a template per (MAC, source): only the target and the checksum differ between VIPs, and a
 * takeover builds one frame per VIP, thousands at a time (two messages, seven buffers and a checksum over
 * all 72 bytes each before).
 */
export function unsolicitedNeighborAdvertisementFrame(
  vip: string,
  sourceMac: string,
  source: string,
): Buffer {
  const template = naTemplate(sourceMac, source);
  const frame = Buffer.allocUnsafe(template.frame.length);
  template.frame.copy(frame);
  writeIp(frame, NA_TARGET, vip, 6);
  // The template's sum is over everything but the target (zero there): add the target's words.
  const sum = onesComplementAdd(template.sum, frame.subarray(NA_TARGET, NA_TARGET + 16));
  frame.writeUInt16BE(finishChecksum(sum), NA_CHECKSUM);
  return frame;
}

const NA_MESSAGE = ETHERNET_HEADER + IPV6_HEADER;
const NA_CHECKSUM = NA_MESSAGE + 2;
const NA_TARGET = NA_MESSAGE + 8;

/** Per "MAC source": the frame with a zero target and checksum, and its checksum's partial sum. */
const naTemplates = new Map<string, { frame: Buffer; sum: number }>();
const NA_TEMPLATES_MAX = 64;

function naTemplate(sourceMac: string, source: string): { frame: Buffer; sum: number } {
  return cachedIn(naTemplates, NA_TEMPLATES_MAX, `${sourceMac} ${source}`, () => {
    const frame = allNodesIcmpv6Frame(sourceMac, source, unsolicitedNeighborAdvertisement("::", sourceMac));
    const message = frame.subarray(NA_MESSAGE);
    const ip = frame.subarray(ETHERNET_HEADER, NA_MESSAGE);
    message.writeUInt16BE(0, 2);
    const sum = onesComplementAdd(
      onesComplementAdd(message.length + IPPROTO_ICMPV6, ip.subarray(8, 40)),
      message,
    );
    return { frame, sum };
  });
}

const ALL_NODES_MAC_BYTES = macToBytes(ALL_NODES_MAC);
const ALL_NODES_BYTES = ipToBytes(ALL_NODES, 6);

/** Adds `bytes` as big-endian 16-bit words (an odd last byte padded with zero) to a running sum. */
function onesComplementAdd(sum: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i += 2)
    sum += (bytes[i] << 8) | (i + 1 < bytes.length ? bytes[i + 1] : 0);
  return sum;
}

function finishChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface CapturedNeighborAdvertisement extends NeighborAdvertisement {
  readonly destinationMac: string;
  readonly sourceMac: string;
  readonly sourceIp: string;
  readonly destinationIp: string;
  readonly hopLimit: number;
  readonly checksum: number;
  /** The ICMPv6 message bytes, for checksum verification. */
  readonly icmp: Buffer;
}

/** Parses an Ethernet frame holding an IPv6 NA without extension headers; undefined for anything else. */
export function parseNeighborAdvertisementFrame(
  frame: Uint8Array,
): CapturedNeighborAdvertisement | undefined {
  const b = Buffer.from(frame.buffer, frame.byteOffset, frame.length);
  if (b.length < 14 + 40 + 24 || b.readUInt16BE(12) !== ETHERTYPE_IPV6) return undefined;
  const ip = b.subarray(14);
  if (ip[0] >> 4 !== 6 || ip[6] !== IPPROTO_ICMPV6) return undefined;
  const payloadLength = ip.readUInt16BE(4);
  const icmp = ip.subarray(40, 40 + payloadLength);
  if (icmp.length < 24 || icmp[0] !== ICMPV6_NEIGHBOR_ADVERTISEMENT) return undefined;
  let targetMac: string | undefined;
  for (let at = 24; at + 8 <= icmp.length;) {
    const length = icmp[at + 1] * 8;
    if (length === 0) break;
    if (icmp[at] === NDP_OPTION_TARGET_LINK_LAYER && length >= 8)
      targetMac = bytesToMac(icmp.subarray(at + 2, at + 8));
    at += length;
  }
  return {
    destinationMac: bytesToMac(b.subarray(0, 6)),
    sourceMac: bytesToMac(b.subarray(6, 12)),
    sourceIp: bytesToIp(ip.subarray(8, 24)),
    destinationIp: bytesToIp(ip.subarray(24, 40)),
    hopLimit: ip[7],
    checksum: icmp.readUInt16BE(2),
    router: (icmp[4] & FLAG_ROUTER) !== 0,
    solicited: (icmp[4] & FLAG_SOLICITED) !== 0,
    override: (icmp[4] & FLAG_OVERRIDE) !== 0,
    target: bytesToIp(icmp.subarray(8, 24)),
    targetMac,
    icmp: Buffer.from(icmp),
  };
}
