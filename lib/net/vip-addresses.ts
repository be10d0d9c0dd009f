// VIP addresses on this node's links: /32 and /128, marked with IFA_PROTO = VIPD_ADDRESS_PROTO so vipd can
// always tell its own addresses from anyone else's, and never touches the latter.
//
// Why IFA_PROTO and not a label: labels exist for IPv4 only (IPv6 has no IFA_LABEL), are limited to
// 15 bytes that must start with the interface name, and are free-form text other tools also set.
// IFA_PROTO (Linux 6.1+) is a u8 meant exactly for "who added this address", for both families, and
// is shown by `ip addr` as `proto 0x56`.
//
// Batching: rtnetlink has no bulk address request, but one datagram may carry many requests and the kernel
// handles them all within the one sendmsg: see address-batch.ts (adaptive batches on a socket of our own).
import type { RtNetlinkSocket } from "netlink/dist/rt/rt";
import { AddressBatcher, type AddressOutcome, type NetlinkChannel } from "./address-batch";
import { VIPD_ADDRESS_PROTO, type AddressInfo } from "./links";
import { openNetlinkChannel } from "./netlink-channel";
import { dumpAddresses } from "./rtnl-convert";
import { libc } from "./libc";

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
  /** The socket the batches go through (a fake in unit tests); by default one of our own, opened at first use. */
  readonly channel?: NetlinkChannel;
  /** Kernel time one batch may take on the main thread (address-batch.ts TARGET_BATCH_MS by default). */
  readonly targetBatchMs?: number;
}

export class VipAddresses {
  readonly proto: number;
  private batcher: AddressBatcher | undefined;
  private channel: NetlinkChannel | undefined;

  /** `socket` serves the dumps (listMarked); the requests go through the channel. */
  constructor(
    private readonly socket: RtNetlinkSocket,
    private readonly options: VipAddressOptions = {},
  ) {
    this.proto = options.proto ?? VIPD_ADDRESS_PROTO;
    this.channel = options.channel;
  }

  /**
   * Adds marked host addresses. An address that is already there counts as added. `onAdded` hears of each
   * as soon as the kernel acknowledged its batch, so its announcement need not wait for the rest.
   */
  async add(
    placements: readonly VipPlacement[],
    onAdded?: (p: VipPlacement) => void,
  ): Promise<PlacementFailure[]> {
    const outcomes = await this.requests().run("add", placements, (batch) => {
      if (onAdded) for (const o of batch) if (o.error === undefined) onAdded(o.placement);
    });
    return failuresOf(outcomes);
  }

  /** Removes host addresses. An address that is already gone counts as removed. */
  async remove(placements: readonly VipPlacement[]): Promise<PlacementFailure[]> {
    return failuresOf(await this.requests().run("remove", placements));
  }

  /** Marked addresses currently in the kernel, from a fresh dump. */
  async listMarked(): Promise<AddressInfo[]> {
    return (await dumpAddresses(this.socket)).filter((a) => a.proto === this.proto);
  }

  close(): void {
    this.channel?.close();
  }

  private requests(): AddressBatcher {
    if (!this.batcher) {
      this.channel ??= openNetlinkChannel();
      const c = libc();
      this.batcher = new AddressBatcher(this.channel, {
        proto: this.proto,
        targetMs: this.options.targetBatchMs,
        // Batches are sized by this thread's CPU time, not the wall clock: on a busy host a batch preempted
        // for 100 ms looked 10x slower than the kernel is, and the next batch shrank to a few requests (at
        // 10,000 VIPs start-up added 1-10 addresses per event-loop turn for a minute).
        now: () => c.threadCpuMs(),
      });
    }
    return this.batcher;
  }
}

function failuresOf(outcomes: ReadonlyArray<AddressOutcome<VipPlacement>>): PlacementFailure[] {
  const out: PlacementFailure[] = [];
  for (const o of outcomes) if (o.error !== undefined) out.push({ ...o.placement, error: o.error });
  return out;
}

/** The errno name out of the netlink package's "Request rejected: EEXIST" errors. */
export function errorCode(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : String(error);
  if (message.startsWith("Timeout has been reached")) return "ETIMEDOUT";
  return /\b(E[A-Z0-9]+)\b/.exec(message)?.[1];
}
