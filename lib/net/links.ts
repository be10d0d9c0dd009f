// The node's view of its own links and addresses, as plain data. Produced by the netlink watch (I/O edge)
// and consumed by the pure interface choice; nothing here does I/O.

/** RFC 2863 operational state, as rtnetlink reports it in IFLA_OPERSTATE. */
export type OperState = "unknown" | "notpresent" | "down" | "lowerlayerdown" | "testing" | "dormant" | "up";

export interface LinkInfo {
  readonly index: number;
  readonly name: string;
  /** Lower-case colon form (`02:00:00:00:00:01`); empty for links without a hardware address. */
  readonly mac: string;
  /** IFF_UP: administratively up. */
  readonly up: boolean;
  readonly noarp: boolean;
  readonly loopback: boolean;
  readonly operstate: OperState;
  /** IFLA_CARRIER; links that do not report it count as having carrier. */
  readonly carrier: boolean;
  /** Index of the bond/bridge/VRF master, when enslaved. */
  readonly master?: number;
  /** IFLA_INFO_KIND (`veth`, `bond`, `bridge`, `vrf`, ...); empty for physical NICs. */
  readonly kind: string;
}

export interface AddressInfo {
  /** Index of the link holding the address. */
  readonly index: number;
  readonly family: 4 | 6;
  /** Canonical text form (lib/ip formatIp). */
  readonly ip: string;
  readonly prefixlen: number;
  /** IFA_PROTO (Linux 6.1+); 0 when unset. vipd marks its own VIPs with VIPD_ADDRESS_PROTO. */
  readonly proto: number;
  readonly label?: string;
  readonly tentative: boolean;
  readonly dadfailed: boolean;
  readonly nodad: boolean;
}

/**
 * IFA_PROTO value that marks an address as added by vipd. The kernel reserves 0–3 (unspec, kernel_lo,
 * kernel_ra, kernel_ll); iproute2 prints other values as numbers (`proto 0x56`), so an operator can see and
 * filter vipd's addresses with `ip addr show proto 0x56`.
 */
export const VIPD_ADDRESS_PROTO = 0x56;

/** A link can carry announcements: administratively up, with carrier, and not operationally down. */
export function linkIsUsable(link: LinkInfo): boolean {
  if (!link.up || !link.carrier || link.noarp || link.loopback) return false;
  return link.operstate === "up" || link.operstate === "unknown";
}

/** Masters whose members never carry L3 addresses themselves; a VRF master is not one of them. */
const AGGREGATING_KINDS = new Set(["bond", "bridge", "team", "openvswitch"]);

/** The link that should carry addresses for `link`: its bond/bridge master when enslaved, else itself. */
export function effectiveLink(link: LinkInfo, byIndex: ReadonlyMap<number, LinkInfo>): LinkInfo {
  if (link.master === undefined) return link;
  const master = byIndex.get(link.master);
  if (master && AGGREGATING_KINDS.has(master.kind)) return master;
  return link;
}
