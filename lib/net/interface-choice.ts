// Which interface(s) a VIP lives on, on this node. Pure: the netlink watch supplies links and addresses.
// Announcing on a wrong interface is a real bug class (MetalLB #165, #277, #316), so when no interface
// fits the node is ineligible for the VIP and says why, instead of guessing.
import { cidrLast, parseCidr, parseIp, type Cidr } from "../ip";
import { effectiveLink, linkIsUsable, VIPD_ADDRESS_PROTO, type AddressInfo, type LinkInfo } from "./links";

export type InterfaceChoice =
  | {
      readonly eligible: true;
      /** The first one holds the VIP address; announcements go out on all of them. */
      readonly interfaces: readonly string[];
    }
  | { readonly eligible: false; readonly reason: string };

/**
 * What a choice reads of the links and addresses, prepared once for many VIPs: the link maps and each
 * candidate address's subnet, parsed. Choosing for 1,000 VIPs parsed every address's CIDR (a BigInt mask
 * and range each) once per VIP: ~38 ms of a 1,000-VIP start-up (cpu-prof), and every link or address
 * change recomputes every VIP.
 */
export interface InterfaceContext {
  readonly byIndex: ReadonlyMap<number, LinkInfo>;
  readonly byName: ReadonlyMap<string, LinkInfo>;
  /** Candidate subnets, in the addresses' order (the tie-break below relies only on prefix and index). */
  readonly subnets: readonly Subnet[];
  /** One frozen "eligible on this link" choice per link name, shared by every VIP that lands there. */
  readonly onLink: Map<string, InterfaceChoice>;
}

/** A parsed candidate subnet with its last address worked out once (cidrContains, without a BigInt sum per call). */
interface Subnet {
  readonly family: Cidr["family"];
  readonly first: bigint;
  readonly last: bigint;
  readonly prefix: number;
  readonly index: number;
}

export function interfaceContext(
  links: readonly LinkInfo[],
  addresses: readonly AddressInfo[],
): InterfaceContext {
  const subnets: Subnet[] = [];
  for (const addr of addresses) {
    // Our own /32 or /128 VIPs must not vouch for themselves: the VIP has to stay on the link whose
    // real subnet holds it, so losing that subnet makes the node ineligible.
    if (addr.proto === VIPD_ADDRESS_PROTO || addr.dadfailed) continue;
    const cidr = parseCidr(`${addr.ip}/${addr.prefixlen}`);
    if (!cidr) continue;
    subnets.push({
      family: cidr.family,
      first: cidr.network,
      last: cidrLast(cidr),
      prefix: cidr.prefix,
      index: addr.index,
    });
  }
  return {
    byIndex: new Map(links.map((l) => [l.index, l])),
    byName: new Map(links.map((l) => [l.name, l])),
    subnets,
    onLink: new Map(),
  };
}

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
  return chooseInterfaceIn(interfaceContext(links, addresses), vip, advertisedInterfaces);
}

/** chooseInterface over a prepared context (the same answer; the eligibility tracker's path). */
export function chooseInterfaceIn(
  context: InterfaceContext,
  vip: string,
  advertisedInterfaces: readonly string[],
): InterfaceChoice {
  const ip = parseIp(vip);
  if (!ip) return { eligible: false, reason: `${vip} is not an IP address` };
  const { byIndex, byName } = context;

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
  for (const subnet of context.subnets) {
    if (subnet.family !== ip.family || ip.value < subnet.first || ip.value > subnet.last) continue;
    const link = byIndex.get(subnet.index);
    // Addresses on an enslaved port are ignored (the master carries L3); a port is not itself eligible.
    if (!link || effectiveLink(link, byIndex) !== link) continue;
    if (!linkIsUsable(link)) {
      unusable ??= link;
      continue;
    }
    if (
      !best ||
      subnet.prefix > best.prefix ||
      (subnet.prefix === best.prefix && link.index < best.link.index)
    ) {
      best = { link, prefix: subnet.prefix };
    }
  }
  if (!best && unusable) {
    return {
      eligible: false,
      reason: `interface ${unusable.name} has a subnet containing ${vip} but is not usable (${describeState(unusable)})`,
    };
  }
  if (!best) return { eligible: false, reason: `no interface with a subnet containing ${vip}` };
  const name = best.link.name;
  let choice = context.onLink.get(name);
  if (!choice) {
    choice = Object.freeze({ eligible: true, interfaces: Object.freeze([name]) });
    context.onLink.set(name, choice);
  }
  return choice;
}

function describeState(link: LinkInfo): string {
  if (!link.up) return "administratively down";
  if (!link.carrier) return "no carrier";
  if (link.noarp) return "NOARP";
  if (link.loopback) return "loopback";
  return `operstate ${link.operstate}`;
}
