// Ethernet + ARP frames for gratuitous announcements (RFC 826, RFC 5227 §2.3). Pure: builds and parses
// bytes, no sockets.
import { cachedIn } from "../bounded-cache";
import { BROADCAST_MAC, bytesToMac, ipv4At, writeIp, writeMac, ZERO_MAC } from "./wire";

export const ETHERTYPE_ARP = 0x0806;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
/** Ethernet minimum frame without FCS; NICs pad short frames, veth and AF_PACKET capture do not. */
export const MIN_ETHERNET_FRAME = 60;

export interface ArpFrame {
  readonly destination: string;
  readonly source: string;
  readonly operation: number;
  readonly senderMac: string;
  readonly senderIp: string;
  readonly targetMac: string;
  readonly targetIp: string;
}

/**
 * The two gratuitous forms sent every round, both broadcast with sender = target = VIP:
 * - request: target MAC all-zero, as RFC 5227 §2.3 "ARP Announcement" prescribes;
 * - reply: target MAC = sender MAC. Linux treats a reply as gratuitous (and lets it override an entry
 *   inside the 1 s locktime) only when target MAC equals sender MAC (net/ipv4/arp.c arp_is_garp), the
 *   same form `arping -A` sends.
 */
export function gratuitousArpFrames(vip: string, interfaceMac: string): [request: Buffer, reply: Buffer] {
  // Both frames in one buffer from the interface's template: only the VIP differs between VIPs, and a
  // 10,000-VIP takeover builds them thousands at a time (seven buffers per frame before: ~10 us a VIP).
  // The VIP is parsed once, into the request's sender field, and copied to the other three.
  const frames = Buffer.allocUnsafe(2 * MIN_ETHERNET_FRAME);
  gratuitousTemplate(interfaceMac).copy(frames);
  writeIp(frames, SENDER_IP, vip, 4);
  frames.copyWithin(TARGET_IP, SENDER_IP, SENDER_IP + 4);
  frames.copyWithin(MIN_ETHERNET_FRAME + SENDER_IP, SENDER_IP, SENDER_IP + 4);
  frames.copyWithin(MIN_ETHERNET_FRAME + TARGET_IP, SENDER_IP, SENDER_IP + 4);
  return [frames.subarray(0, MIN_ETHERNET_FRAME), frames.subarray(MIN_ETHERNET_FRAME)];
}

const SENDER_IP = 28;
const TARGET_IP = 38;

/** Per interface MAC: the request and the reply of gratuitousArpFrames with zero IPs. Bounded for churn. */
const gratuitousTemplates = new Map<string, Buffer>();
const GRATUITOUS_TEMPLATES_MAX = 64;

function gratuitousTemplate(interfaceMac: string): Buffer {
  return cachedIn(gratuitousTemplates, GRATUITOUS_TEMPLATES_MAX, interfaceMac, () => {
    const common = {
      destination: BROADCAST_MAC,
      source: interfaceMac,
      senderMac: interfaceMac,
      senderIp: "0.0.0.0",
      targetIp: "0.0.0.0",
    };
    return Buffer.concat([
      buildArpFrame({ ...common, operation: ARP_REQUEST, targetMac: ZERO_MAC }),
      buildArpFrame({ ...common, operation: ARP_REPLY, targetMac: interfaceMac }),
    ]);
  });
}

export function buildArpFrame(f: ArpFrame): Buffer {
  // From Node's shared pool (see allNodesIcmpv6Frame): kept for the whole announcement of a VIP.
  const frame = Buffer.allocUnsafe(MIN_ETHERNET_FRAME).fill(0);
  writeMac(frame, 0, f.destination);
  writeMac(frame, 6, f.source);
  frame.writeUInt16BE(ETHERTYPE_ARP, 12);
  frame.writeUInt16BE(1, 14); // hardware type: Ethernet
  frame.writeUInt16BE(0x0800, 16); // protocol type: IPv4
  frame[18] = 6;
  frame[19] = 4;
  frame.writeUInt16BE(f.operation, 20);
  writeMac(frame, 22, f.senderMac);
  writeIp(frame, SENDER_IP, f.senderIp, 4);
  writeMac(frame, 32, f.targetMac);
  writeIp(frame, TARGET_IP, f.targetIp, 4);
  return frame;
}

/**
 * The sender IP of an ARP frame (0.0.0.0 for a probe) without parsing the rest; undefined for anything else
 * than IPv4-over-Ethernet ARP. A frame with a sender IP claims that IP and nothing else, so a reader can drop
 * one about an IP it does not care about before building its MAC texts.
 */
export function arpSenderIp(frame: Uint8Array): string | undefined {
  if (frame.length < 42 || ((frame[12] << 8) | frame[13]) !== ETHERTYPE_ARP) return undefined;
  return ipv4At(frame, SENDER_IP);
}

/** Parses an Ethernet frame carrying IPv4-over-Ethernet ARP; undefined for anything else. */
export function parseArpFrame(frame: Uint8Array): ArpFrame | undefined {
  if (frame.length < 42) return undefined;
  const b = Buffer.from(frame.buffer, frame.byteOffset, frame.length);
  if (b.readUInt16BE(12) !== ETHERTYPE_ARP) return undefined;
  if (b.readUInt16BE(14) !== 1 || b.readUInt16BE(16) !== 0x0800 || b[18] !== 6 || b[19] !== 4)
    return undefined;
  return {
    destination: bytesToMac(b.subarray(0, 6)),
    source: bytesToMac(b.subarray(6, 12)),
    operation: b.readUInt16BE(20),
    senderMac: bytesToMac(b.subarray(22, 28)),
    senderIp: ipv4At(b, SENDER_IP),
    targetMac: bytesToMac(b.subarray(32, 38)),
    targetIp: ipv4At(b, TARGET_IP),
  };
}
