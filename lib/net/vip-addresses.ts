// VIP addresses on this node's links: /32 and /128, marked with IFA_PROTO = VIPD_ADDRESS_PROTO so vipd can
// always tell its own addresses from anyone else's, and never touches the latter.
//
// Why IFA_PROTO and not a label: labels exist for IPv4 only (IPv6 has no IFA_LABEL), are limited to
// 15 bytes that must start with the interface name, and are free-form text other tools also set.
// IFA_PROTO (Linux 6.1+) is a u8 meant exactly for "who added this address", for both families, and
// is shown by `ip addr` as `proto 0x56`.
//
// Batching: rtnetlink has no bulk address request, so requests are pipelined: up to `window` are in flight
// at once on one socket and the acknowledgements are matched by sequence number.
import type { rt, RtNetlinkSocket } from "netlink";
import { parseIp } from "../ip";
import { VIPD_ADDRESS_PROTO, type AddressInfo } from "./links";
import { AF_INET, AF_INET6, IFA_PROTO, dumpAddresses } from "./rtnl-convert";
import { ipToBytes } from "./wire";

const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const DEFAULT_WINDOW = 256;

export interface VipPlacement {
  readonly ip: string;
  readonly ifindex: number;
}

export interface PlacementFailure extends VipPlacement {
  /** errno name from the kernel (`ENODEV`), or the error text. */
  readonly error: string;
}

export interface VipAddressOptions {
  /** IFA_PROTO value marking vipd's addresses. */
  readonly proto?: number;
  /** Requests in flight at once. */
  readonly window?: number;
  /**
   * How long one request may wait for the kernel's acknowledgement. A lost acknowledgement (a full receive
   * buffer drops it) must not leave the request, and the applier pass awaiting it, in flight forever.
   */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 2000;

export class VipAddresses {
  readonly proto: number;
  private readonly window: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly socket: RtNetlinkSocket,
    options: VipAddressOptions = {},
  ) {
    this.proto = options.proto ?? VIPD_ADDRESS_PROTO;
    this.window = options.window ?? DEFAULT_WINDOW;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /**
   * Adds marked host addresses. An address that is already there counts as added. `onAdded` hears of each
   * as soon as the kernel acknowledged it, so its announcement need not wait for the rest of the batch.
   */
  add(placements: readonly VipPlacement[], onAdded?: (p: VipPlacement) => void): Promise<PlacementFailure[]> {
    return this.pipeline(placements, async (p) => {
      const { family, bytes } = hostAddress(p.ip);
      try {
        await this.socket.newAddress(
          {
            family: family === 4 ? AF_INET : AF_INET6,
            prefixlen: family === 4 ? 32 : 128,
            index: p.ifindex,
            scope: 0,
          },
          withRawAttributes(
            {
              local: bytes,
              address: bytes,
              // NODAD: during a failover overlap the old owner may still answer for the VIP; DAD would then
              // leave it `dadfailed` (keepalived adds VIPs the same way).
              ...(family === 6 ? { flags: { nodad: true } } : {}),
            },
            [[IFA_PROTO, Buffer.from([this.proto])]],
          ),
          { flags: NLM_F_CREATE | NLM_F_EXCL, timeout: this.timeoutMs },
        );
      } catch (error) {
        if (errorCode(error) !== "EEXIST") throw error;
      }
      onAdded?.(p);
    });
  }

  /** Removes host addresses. An address that is already gone counts as removed. */
  remove(placements: readonly VipPlacement[]): Promise<PlacementFailure[]> {
    return this.pipeline(placements, async (p) => {
      const { family, bytes } = hostAddress(p.ip);
      try {
        await this.socket.delAddress(
          { family: family === 4 ? AF_INET : AF_INET6, prefixlen: family === 4 ? 32 : 128, index: p.ifindex },
          { local: bytes, address: bytes },
          { timeout: this.timeoutMs },
        );
      } catch (error) {
        const code = errorCode(error);
        if (code !== "EADDRNOTAVAIL" && code !== "ENODEV" && code !== "ESRCH") throw error;
      }
    });
  }

  /** Marked addresses currently in the kernel, from a fresh dump. */
  async listMarked(): Promise<AddressInfo[]> {
    return (await dumpAddresses(this.socket)).filter((a) => a.proto === this.proto);
  }

  private async pipeline(
    placements: readonly VipPlacement[],
    request: (p: VipPlacement) => Promise<void>,
  ): Promise<PlacementFailure[]> {
    const failures: PlacementFailure[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < placements.length) {
        const p = placements[next++];
        try {
          await request(p);
        } catch (error) {
          failures.push({ ...p, error: errorCode(error) ?? String(error) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.window, placements.length) }, worker));
    return failures;
  }
}

/**
 * The netlink package has no field for IFA_PROTO but appends `__unparsed` attributes verbatim. Its encoder
 * rejects unknown enumerable keys before it gets there, so the list is attached as a non-enumerable property.
 */
function withRawAttributes(attrs: rt.AddressAttrs, raw: Array<[number, Buffer]>): rt.AddressAttrs {
  return Object.defineProperty(attrs, "__unparsed", { value: raw, enumerable: false });
}

function hostAddress(ip: string): { family: 4 | 6; bytes: Buffer } {
  const parsed = parseIp(ip);
  if (!parsed) throw new Error(`not an IP address: ${ip}`);
  return { family: parsed.family, bytes: ipToBytes(ip, parsed.family) };
}

/** The errno name out of the netlink package's "Request rejected: EEXIST" errors. */
export function errorCode(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : String(error);
  if (message.startsWith("Timeout has been reached")) return "ETIMEDOUT";
  return /\b(E[A-Z0-9]+)\b/.exec(message)?.[1];
}
