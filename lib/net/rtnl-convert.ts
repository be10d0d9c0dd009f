// rtnetlink messages -> LinkInfo / AddressInfo: links over the `netlink` package's parsed structs, addresses read
// from their raw payloads (addressFromPayload says why).
import type * as ifla from "netlink/dist/rt/ifla";
import type { RtNetlinkSocket } from "netlink/dist/rt/rt";
import * as rt from "netlink/dist/rt/structs";
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

// linux/if_addr.h: the address attributes and flags vipd reads here and writes in address-batch.ts.
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
const IFA_LABEL = 3;
export const IFA_FLAGS = 8;
export const IFA_F_NODAD = 0x02;
const IFA_F_DADFAILED = 0x08;
const IFA_F_TENTATIVE = 0x40;

/**
 * Parses a raw RTM_NEWADDR/RTM_DELADDR payload: struct ifaddrmsg, then the attributes vipd reads. Read here
 * rather than by the netlink package's `rt.parseAddressMessage`: a takeover of thousands of VIPs brings one
 * notification per address, and the package's generic struct reader (an object per attribute, every known
 * attribute decoded) was ~10% of a 10,000-VIP takeover's main thread (profiled); it also drops IFA_PROTO,
 * which vipd marks its addresses with. A unit test checks it against the package on the same payloads.
 */
export function addressFromPayload(payload: Buffer): AddressInfo | undefined {
  if (payload.length < IFADDRMSG_LENGTH) return undefined;
  const family = payload[0];
  if (family !== AF_INET && family !== AF_INET6) return undefined;
  let flags = payload[2];
  let local: Buffer | undefined;
  let address: Buffer | undefined;
  let label: string | undefined;
  let proto = 0;
  for (let at = IFADDRMSG_LENGTH; at + 4 <= payload.length;) {
    const length = payload.readUInt16LE(at);
    if (length < 4 || at + length > payload.length) break;
    const start = at + 4;
    const end = at + length;
    switch (payload.readUInt16LE(at + 2) & 0x3fff) {
      case IFA_LOCAL:
        local = payload.subarray(start, end);
        break;
      case IFA_ADDRESS:
        address = payload.subarray(start, end);
        break;
      case IFA_LABEL:
        // NUL-terminated, as the package reads it (its last byte dropped).
        if (end > start) label = payload.toString("utf8", start, end - 1);
        break;
      case IFA_FLAGS:
        // The 32-bit flags, when present, supersede ifaddrmsg's 8-bit field.
        if (length >= 8) flags = payload.readUInt32LE(start);
        break;
      case IFA_PROTO:
        if (length > 4) proto = payload[start];
        break;
    }
    at += (length + 3) & ~3;
  }
  // For IPv4, IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point links).
  const bytes = local ?? address;
  if (!bytes || bytes.length !== (family === AF_INET ? 4 : 16)) return undefined;
  return {
    index: payload.readUInt32LE(4),
    family: family === AF_INET ? 4 : 6,
    ip: bytesToIp(bytes),
    prefixlen: payload[1],
    proto,
    label,
    tentative: (flags & IFA_F_TENTATIVE) !== 0,
    dadfailed: (flags & IFA_F_DADFAILED) !== 0,
    nodad: (flags & IFA_F_NODAD) !== 0,
  };
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

export const addressKey = (a: Pick<AddressInfo, "index" | "ip" | "prefixlen">): string =>
  `${a.index}|${a.ip}/${a.prefixlen}`;
