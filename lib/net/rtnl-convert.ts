// rtnetlink messages -> LinkInfo / AddressInfo. Pure conversions over the `netlink` package's parsed structs.
import { rt, type ifla, type RtNetlinkSocket } from "netlink";
import { bytesToIp, bytesToMac } from "./wire";
import type { AddressInfo, LinkInfo, OperState } from "./links";

export const AF_INET = 2;
export const AF_INET6 = 10;
/** IFA_PROTO (linux/if_addr.h, Linux 6.1+): a u8 naming who added the address. */
export const IFA_PROTO = 11;
const IFLA_INFO_KIND = 1;

const OPERSTATES: readonly OperState[] = [
  "unknown",
  "notpresent",
  "down",
  "lowerlayerdown",
  "testing",
  "dormant",
  "up",
];

export function linkFromMessage(data: rt.Link, attrs: ifla.LinkAttrs): LinkInfo | undefined {
  if (data.index === undefined || attrs.ifname === undefined) return undefined;
  const flags = data.flags ?? {};
  return {
    index: data.index,
    name: attrs.ifname,
    mac: attrs.address && attrs.address.length === 6 ? bytesToMac(attrs.address) : "",
    up: flags.up === true,
    noarp: flags.noarp === true,
    loopback: flags.loopback === true,
    operstate: OPERSTATES[attrs.operstate ?? 0] ?? "unknown",
    carrier: attrs.carrier === undefined ? true : attrs.carrier !== 0,
    master: attrs.master || undefined,
    kind: attrs.linkinfo ? linkKind(attrs.linkinfo) : "",
  };
}

/** IFLA_INFO_KIND out of the nested IFLA_LINKINFO attribute. */
export function linkKind(linkinfo: Buffer): string {
  for (let at = 0; at + 4 <= linkinfo.length;) {
    const length = linkinfo.readUInt16LE(at);
    const type = linkinfo.readUInt16LE(at + 2) & 0x3fff;
    if (length < 4) break;
    if (type === IFLA_INFO_KIND)
      return linkinfo
        .subarray(at + 4, at + length)
        .toString("latin1")
        .replace(/\0+$/, "");
    at += (length + 3) & ~3;
  }
  return "";
}

/** Length of struct ifaddrmsg, after which the attributes start. */
const IFADDRMSG_LENGTH = 8;
const RTM_GETADDR = 22;
const NLM_F_DUMP = 0x300;

/**
 * Parses a raw RTM_NEWADDR/RTM_DELADDR payload. The netlink package (0.3.0) drops attributes it does not
 * know while parsing (its `__unparsed` list is never created), so IFA_PROTO is read from the raw bytes.
 */
export function addressFromPayload(payload: Buffer): AddressInfo | undefined {
  const parsed = rt.parseAddressMessage(payload);
  const address = addressFromMessage(parsed.data, parsed.attrs);
  if (!address) return undefined;
  const proto = rawAttribute(payload, IFADDRMSG_LENGTH, IFA_PROTO);
  return { ...address, proto: proto && proto.length > 0 ? proto[0] : 0 };
}

/** Every address in the namespace, IFA_PROTO included (see addressFromPayload). */
/** A dump whose reply never completes (lost to a full buffer) fails after this long instead of hanging. */
export const DUMP_TIMEOUT_MS = 10_000;

export async function dumpAddresses(socket: RtNetlinkSocket): Promise<AddressInfo[]> {
  const [messages] = await socket.socket.request(RTM_GETADDR, Buffer.alloc(IFADDRMSG_LENGTH), {
    flags: NLM_F_DUMP,
    timeout: DUMP_TIMEOUT_MS,
  });
  const out: AddressInfo[] = [];
  for (const m of messages) {
    if (m.type !== 20) continue; // RTM_NEWADDR
    const a = addressFromPayload(m.data);
    if (a) out.push(a);
  }
  return out;
}

/** The first attribute of `type` in a netlink payload whose fixed header is `headerLength` bytes. */
export function rawAttribute(payload: Buffer, headerLength: number, type: number): Buffer | undefined {
  for (let at = (headerLength + 3) & ~3; at + 4 <= payload.length;) {
    const length = payload.readUInt16LE(at);
    if (length < 4 || at + length > payload.length) return undefined;
    if ((payload.readUInt16LE(at + 2) & 0x3fff) === type) return payload.subarray(at + 4, at + length);
    at += (length + 3) & ~3;
  }
  return undefined;
}

export function addressFromMessage(data: rt.Address, attrs: rt.AddressAttrs): AddressInfo | undefined {
  if (data.index === undefined || (data.family !== AF_INET && data.family !== AF_INET6)) return undefined;
  // For IPv4, IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point links).
  const bytes = attrs.local ?? attrs.address;
  if (!bytes) return undefined;
  const flags = attrs.flags ?? data.flags ?? {};
  const proto = attrs.__unparsed?.find(([type]) => type === IFA_PROTO)?.[1];
  return {
    index: data.index,
    family: data.family === AF_INET ? 4 : 6,
    ip: bytesToIp(bytes),
    prefixlen: data.prefixlen ?? 0,
    proto: proto && proto.length > 0 ? proto[0] : 0,
    label: attrs.label,
    tentative: flags.tentative === true,
    dadfailed: flags.dadfailed === true,
    nodad: flags.nodad === true,
  };
}

export const addressKey = (a: Pick<AddressInfo, "index" | "ip" | "prefixlen">): string =>
  `${a.index}|${a.ip}/${a.prefixlen}`;
