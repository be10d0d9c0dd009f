// IPv6 address conflict detection, the pure part, mirroring arp-conflict.ts: the DAD-style probe frame
// (RFC 4862 §5.4.2 Neighbor Solicitation from the unspecified address) and what a received Neighbor
// Advertisement says about who holds an IP. The socket edge is lib/net/na-listener.ts; the timing is
// lib/net/conflict-monitor.ts, shared with IPv4.
import type { ArpClaim } from "./arp-conflict";
import {
  ETHERTYPE_IPV6,
  ICMPV6_NEIGHBOR_ADVERTISEMENT,
  ICMPV6_NEIGHBOR_SOLICITATION,
  icmpv6Checksum,
  IPPROTO_ICMPV6,
  NDP_HOP_LIMIT,
  NDP_OPTION_TARGET_LINK_LAYER,
} from "./ndp-frame";
import { bytesToIp, bytesToMac, ipToBytes, macToBytes } from "./wire";

const UNSPECIFIED6 = "::";

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
  const destination = solicitedNodeAddress(vip);
  const icmp = Buffer.alloc(24);
  icmp.writeUInt8(ICMPV6_NEIGHBOR_SOLICITATION, 0);
  ipToBytes(vip, 6).copy(icmp, 8);
  icmp.writeUInt16BE(icmpv6Checksum(UNSPECIFIED6, destination, icmp), 2);
  const ip = Buffer.alloc(40);
  ip.writeUInt32BE(0x60000000, 0);
  ip.writeUInt16BE(icmp.length, 4);
  ip.writeUInt8(IPPROTO_ICMPV6, 6);
  ip.writeUInt8(NDP_HOP_LIMIT, 7);
  ipToBytes(UNSPECIFIED6, 6).copy(ip, 8);
  ipToBytes(destination, 6).copy(ip, 24);
  const ethernet = Buffer.alloc(14);
  // 33:33 + the low 32 bits of the group (RFC 2464 §7).
  Buffer.from([0x33, 0x33, ...ipToBytes(destination, 6).subarray(12)]).copy(ethernet, 0);
  macToBytes(interfaceMac).copy(ethernet, 6);
  ethernet.writeUInt16BE(ETHERTYPE_IPV6, 12);
  return Buffer.concat([ethernet, ip, icmp]);
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
