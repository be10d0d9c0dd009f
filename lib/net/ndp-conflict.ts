// IPv6 address conflict detection, the pure part, mirroring arp-conflict.ts: the DAD-style probe frame
// (RFC 4862 §5.4.2 Neighbor Solicitation from the unspecified address) and what a received Neighbor
// Advertisement says about who holds an IP. The socket edge is lib/net/na-listener.ts; the timing is
// lib/net/conflict-monitor.ts, shared with IPv4.
import type { ArpClaim } from "./arp-conflict";
import {
  ETHERTYPE_IPV6,
  ICMPV6_NEIGHBOR_ADVERTISEMENT,
  ICMPV6_NEIGHBOR_SOLICITATION,
  IPPROTO_ICMPV6,
  NDP_HOP_LIMIT,
  NDP_OPTION_TARGET_LINK_LAYER,
} from "./ndp-frame";
import { bytesToIp, bytesToMac, ipToBytes, macToBytes } from "./wire";

/** ff02::1:ffXX:XXXX, the solicited-node multicast group of `ip` (RFC 4291 §2.7.1). */
export function solicitedNodeAddress(ip: string): string {
  const b = ipToBytes(ip, 6);
  const group = Buffer.from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, b[13], b[14], b[15]]);
  return bytesToIp(group);
}

/**
 * The whole Ethernet frame of a DAD probe for `vip`: IPv6 source ::, destination the solicited-node group,
 * hop limit 255, an NS for `vip` with no source link-layer option (RFC 4861 §4.3 forbids it from ::). Sent
 * through a packet socket because a raw ICMPv6 socket cannot use :: as source. No neighbour learns anything
 * from it; a host holding `vip` answers with an NA to all-nodes carrying its MAC (Linux does, for addresses
 * added with or without nodad), which the NA listener hears.
 */
export function dadProbeFrame(vip: string, interfaceMac: string): Buffer {
  // Built from bytes, no address texts: a start-up probes every VIP at once (1,000 frames cost ~300 ms
  // through text round trips and the generic checksum while that code was still cold; a few ms now).
  const target = ipToBytes(vip, 6);
  // From Node's shared pool, like the other frames: a buffer of its own per probe is an ArrayBuffer each, and
  // garbage collection was ~20% of the cost of starting 1,000 probes (micro-benchmark, fake socket).
  const frame = Buffer.allocUnsafe(14 + 40 + 24).fill(0);
  // Ethernet: 33:33 + the low 32 bits of the solicited-node group ff02::1:ffXX:XXXX (RFC 2464 §7).
  frame[0] = 0x33;
  frame[1] = 0x33;
  frame[2] = 0xff;
  target.copy(frame, 3, 13, 16);
  macToBytes(interfaceMac).copy(frame, 6);
  frame.writeUInt16BE(ETHERTYPE_IPV6, 12);
  // IPv6: version 6, payload 24, ICMPv6, hop limit 255, source :: (left zero), the group as destination.
  frame.writeUInt32BE(0x60000000, 14);
  frame.writeUInt16BE(24, 18);
  frame[20] = IPPROTO_ICMPV6;
  frame[21] = NDP_HOP_LIMIT;
  const group = frame.subarray(38, 54);
  group[0] = 0xff;
  group[1] = 0x02;
  group[11] = 0x01;
  group[12] = 0xff;
  target.copy(group, 13, 13, 16);
  // ICMPv6 Neighbor Solicitation for the VIP, no options.
  const icmp = frame.subarray(54);
  icmp[0] = ICMPV6_NEIGHBOR_SOLICITATION;
  target.copy(icmp, 8);
  // Checksum over the pseudo-header (source ::, the group, length 24, next header 58) and the message.
  let sum = 24 + IPPROTO_ICMPV6;
  for (let i = 0; i < 16; i += 2) sum += (group[i] << 8) | group[i + 1];
  for (let i = 0; i < 24; i += 2) sum += (icmp[i] << 8) | icmp[i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  icmp.writeUInt16BE(~sum & 0xffff, 2);
  return frame;
}

/**
 * The IP an ICMPv6 message (as a raw ICMPv6 socket delivers it: no IPv6 header) claims: a Neighbor
 * Advertisement claims its target for the MAC in its target link-layer option. An NA without that option
 * names no MAC and claims nothing we could attribute (RFC 4861 requires it in answers to multicast
 * solicitations, so answers to our probe always carry it).
 */
export function naClaim(icmp: Uint8Array): ArpClaim | undefined {
  if (icmp.length < 24 || icmp[0] !== ICMPV6_NEIGHBOR_ADVERTISEMENT || icmp[1] !== 0) return undefined;
  const target = bytesToIp(icmp.subarray(8, 24));
  for (let at = 24; at + 8 <= icmp.length;) {
    const length = (icmp[at + 1] ?? 0) * 8;
    if (length === 0) return undefined;
    if (icmp[at] === NDP_OPTION_TARGET_LINK_LAYER && length >= 8)
      return { ip: target, mac: bytesToMac(icmp.subarray(at + 2, at + 8)) };
    at += length;
  }
  return undefined;
}
