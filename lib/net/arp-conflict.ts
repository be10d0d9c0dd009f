// Address conflict detection (RFC 5227), the pure part: the probe frame, and what a received ARP frame says
// about who holds an IP. The socket edge is lib/net/arp-listener.ts; the timing is lib/net/conflict-monitor.ts.
import { ARP_REQUEST, buildArpFrame, type ArpFrame } from "./arp-frame";
import { BROADCAST_MAC, ZERO_MAC } from "./wire";

/** The sender IP of an ARP probe. */
export const UNSPECIFIED_IPV4 = "0.0.0.0";

/**
 * RFC 5227 §2.1.1 ARP Probe: a broadcast request with our MAC as sender hardware address, sender IP all
 * zero (so no neighbour's ARP cache learns anything from it) and the candidate IP as target. A host that
 * holds the IP answers it (Linux does, even with sender IP 0: net/ipv4/arp.c, the `sip == 0` branch).
 */
export function arpProbeFrame(vip: string, interfaceMac: string): Buffer {
  return buildArpFrame({
    destination: BROADCAST_MAC,
    source: interfaceMac,
    operation: ARP_REQUEST,
    senderMac: interfaceMac,
    senderIp: UNSPECIFIED_IPV4,
    targetMac: ZERO_MAC,
    targetIp: vip,
  });
}

/** A device saying "this IP is mine" on the wire. */
export interface ArpClaim {
  readonly ip: string;
  readonly mac: string;
}

/**
 * The IP an ARP frame's sender claims, if any:
 * - any request or reply with a sender IP (replies, gratuitous ARPs, ordinary requests) claims that IP for
 *   the sender MAC, because every receiver's cache learns it;
 * - a probe (sender IP 0) claims nothing, except that while we probe the same IP ourselves another
 *   host's probe is a conflict too (RFC 5227 §2.1.1: two hosts probing at once both back off).
 */
export function arpClaim(
  frame: ArpFrame,
  options: { readonly probing?: boolean } = {},
): ArpClaim | undefined {
  if (frame.senderIp !== UNSPECIFIED_IPV4) return { ip: frame.senderIp, mac: frame.senderMac };
  if (options.probing && frame.operation === ARP_REQUEST && frame.targetIp !== UNSPECIFIED_IPV4)
    return { ip: frame.targetIp, mac: frame.senderMac };
  return undefined;
}

export type ClaimOrigin =
  | { readonly kind: "self" }
  | { readonly kind: "member"; readonly member: string }
  | { readonly kind: "foreign" };

/**
 * Who sent a claim: this node (any of its own interfaces' MACs: bridges, bonds and their ports share
 * MACs), another cluster member (by the MACs members gossip), or a foreign device.
 */
export function claimOrigin(
  mac: string,
  localMacs: ReadonlySet<string>,
  memberByMac: ReadonlyMap<string, string>,
): ClaimOrigin {
  const normalized = mac.toLowerCase();
  if (localMacs.has(normalized)) return { kind: "self" };
  const member = memberByMac.get(normalized);
  return member === undefined ? { kind: "foreign" } : { kind: "member", member };
}

/** The status and reason text for an IP a foreign device holds. */
export function conflictReason(ip: string, mac: string): string {
  return `address conflict: ${ip} is held by ${mac} (not a cluster member)`;
}
