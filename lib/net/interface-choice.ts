// Which interface(s) a VIP lives on, on this node. Pure: the netlink watch supplies links and addresses.
// Announcing on a wrong interface is a real bug class (MetalLB #165, #277, #316), so when no interface
// fits the node is ineligible for the VIP and says why, instead of guessing.
import { cidrContains, parseCidr, parseIp } from "../ip";
import { effectiveLink, linkIsUsable, VIPD_ADDRESS_PROTO, type AddressInfo, type LinkInfo } from "./links";

export type InterfaceChoice =
  | {
      readonly eligible: true;
      /** The first one holds the VIP address; announcements go out on all of them. */
      readonly interfaces: readonly string[];
    }
  | { readonly eligible: false; readonly reason: string };

/**
 * @param advertisedInterfaces the union of `interfaces` over the L2Advertisements that cover the VIP on this
 *   node; empty when any of them leaves it empty (= pick by subnet).
 */
export function chooseInterface(
  vip: string,
  links: readonly LinkInfo[],
  addresses: readonly AddressInfo[],
  advertisedInterfaces: readonly string[],
): InterfaceChoice {
  const ip = parseIp(vip);
  if (!ip) return { eligible: false, reason: `${vip} is not an IP address` };
  const byIndex = new Map(links.map((l) => [l.index, l]));
  const byName = new Map(links.map((l) => [l.name, l]));

  if (advertisedInterfaces.length > 0) {
    const chosen: LinkInfo[] = [];
    for (const name of advertisedInterfaces) {
      const link = byName.get(name);
      if (!link) continue;
      const carrier = effectiveLink(link, byIndex);
      if (linkIsUsable(carrier) && !chosen.some((c) => c.index === carrier.index)) chosen.push(carrier);
    }
    if (chosen.length === 0) {
      return {
        eligible: false,
        reason: `none of the advertised interfaces (${advertisedInterfaces.join(", ")}) exists and is up`,
      };
    }
    return { eligible: true, interfaces: chosen.map((l) => l.name) };
  }

  let best: { link: LinkInfo; prefix: number } | undefined;
  let unusable: LinkInfo | undefined;
  for (const addr of addresses) {
    // Our own /32 or /128 VIPs must not vouch for themselves: the VIP has to stay on the link whose
    // real subnet holds it, so losing that subnet makes the node ineligible.
    if (addr.proto === VIPD_ADDRESS_PROTO || addr.dadfailed || addr.family !== ip.family) continue;
    const cidr = parseCidr(`${addr.ip}/${addr.prefixlen}`);
    if (!cidr || !cidrContains(cidr, ip)) continue;
    const link = byIndex.get(addr.index);
    // Addresses on an enslaved port are ignored (the master carries L3); a port is not itself eligible.
    if (!link || effectiveLink(link, byIndex) !== link) continue;
    if (!linkIsUsable(link)) {
      unusable ??= link;
      continue;
    }
    if (!best || cidr.prefix > best.prefix || (cidr.prefix === best.prefix && link.index < best.link.index)) {
      best = { link, prefix: cidr.prefix };
    }
  }
  if (!best && unusable) {
    return {
      eligible: false,
      reason: `interface ${unusable.name} has a subnet containing ${vip} but is not usable (${describeState(unusable)})`,
    };
  }
  if (!best) return { eligible: false, reason: `no interface with a subnet containing ${vip}` };
  return { eligible: true, interfaces: [best.link.name] };
}

function describeState(link: LinkInfo): string {
  if (!link.up) return "administratively down";
  if (!link.carrier) return "no carrier";
  if (link.noarp) return "NOARP";
  if (link.loopback) return "loopback";
  return `operstate ${link.operstate}`;
}
