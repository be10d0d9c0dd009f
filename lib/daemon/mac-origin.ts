// Whose MAC is it: this node's, a member's, or a foreign device's. Conflict handling hinges on it (a member
// still answering after a partition is re-announced over; a foreign device is reported and never fought).
import type { MemberView } from "../gossip/memberlist";
import { claimOrigin, type ClaimOrigin } from "../net/arp-conflict";
import type { LinkInfo } from "../net/links";

/** Every MAC of this node's links (bridges, bonds and their ports share MACs). */
export function localMacs(links: readonly LinkInfo[]): Set<string> {
  return new Set(links.map((l) => l.mac.toLowerCase()));
}

/** mac -> member, from the MACs every member gossips; members in any state count. */
export function memberMacs(members: readonly MemberView[], self: string): Map<string, string> {
  const byMac = new Map<string, string>();
  for (const m of members) {
    if (m.name === self) continue;
    for (const mac of m.metadata?.macs ?? []) byMac.set(mac.toLowerCase(), m.name);
  }
  return byMac;
}

export function originOfMac(
  mac: string,
  links: readonly LinkInfo[],
  members: readonly MemberView[],
  self: string,
): ClaimOrigin {
  return claimOrigin(mac, localMacs(links), memberMacs(members, self));
}
