// Receives ICMPv6 Neighbor Advertisements through a raw ICMPv6 socket (the `raw-socket` package), the
// receive half of IPv6 conflict detection. An ICMP6_FILTER lets only NAs through, so the kernel queues
// nothing else for us; the kernel also strips the IPv6 header, so each message is the ICMPv6 part, and the
// claimant's MAC comes from the NA's target link-layer option (lib/net/ndp-conflict.ts).
import * as raw from "raw-socket";
import type { ObservedClaim } from "./conflict-monitor";
import { naClaim } from "./ndp-conflict";
import { ICMPV6_NEIGHBOR_ADVERTISEMENT } from "./ndp-frame";

const IPPROTO_ICMPV6 = 58;
const ICMP6_FILTER = 1;
/** Claims kept between drains at most; a flood beyond it is dropped, the oldest first. */
const MAX_QUEUED = 4096;

/** Where IPv6 claims come from; the conflict monitor drains it on its poll, tests fake it. */
export interface ClaimSource {
  drain(max: number): ObservedClaim[];
  close(): void;
}

export class NaListener implements ClaimSource {
  private socket: raw.Socket;
  private queue: ObservedClaim[] = [];
  private closed = false;
  private reopenTimer: NodeJS.Timeout | undefined;
  /** Sockets opened again after raw-socket closed one on a poll error. */
  reopened = 0;
  /** Attempts to open one again that failed (each is retried after the pause). */
  reopenFailures = 0;

  constructor(
    private readonly reopenDelayMs = 1000,
    /** The socket's maker: raw-socket's, faked in unit tests. */
    private readonly createSocket: () => raw.Socket = () =>
      raw.createSocket({ addressFamily: raw.AddressFamily.IPv6, protocol: raw.Protocol.ICMPv6 }),
  ) {
    this.socket = this.open();
  }

  private open(): raw.Socket {
    const socket = this.createSocket();
    // ICMP6_FILTER is a 256-bit block mask (set bit = blocked), u32 words in host order: block all, pass NA.
    const filter = Buffer.alloc(32, 0xff);
    const word = ICMPV6_NEIGHBOR_ADVERTISEMENT >> 5;
    filter.writeUInt32LE(
      (filter.readUInt32LE(word * 4) & ~(1 << (ICMPV6_NEIGHBOR_ADVERTISEMENT & 31))) >>> 0,
      word * 4,
    );
    socket.setOption(IPPROTO_ICMPV6, ICMP6_FILTER, filter, 32);
    socket.on("message", (buffer: Buffer) => this.receive(buffer));
    // A receive error loses frames, not the socket. A poll error (libuv's status, e.g. EPOLLERR) is
    // different: raw-socket emits it and closes the socket (unlike the netlink package's poll, it throws no
    // C++ exception, so no abort). The listener would then be deaf for good: open a new socket instead,
    // after a pause so that an error that persists cannot spin.
    socket.on("error", () => {});
    socket.on("close", () => {
      if (this.closed || socket !== this.socket || this.reopenTimer !== undefined) return;
      this.scheduleReopen();
    });
    return socket;
  }

  /** Opens a new socket after a pause; a failure (EMFILE, EPERM...) tries again after another. */
  private scheduleReopen(): void {
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      if (this.closed) return;
      try {
        this.socket = this.open();
        this.reopened++;
      } catch {
        this.reopenFailures++;
        this.scheduleReopen();
      }
    }, this.reopenDelayMs);
    this.reopenTimer.unref();
  }

  drain(max: number): ObservedClaim[] {
    const out = this.queue.length <= max ? this.queue : this.queue.slice(0, max);
    this.queue = this.queue.length <= max ? [] : this.queue.slice(max);
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.reopenTimer !== undefined) clearTimeout(this.reopenTimer);
    this.socket.close();
  }

  private receive(buffer: Buffer): void {
    const claim = naClaim(buffer);
    if (!claim) return;
    if (this.queue.length >= MAX_QUEUED) this.queue.shift();
    // raw-socket does not say which interface; the daemon judges claims by MAC, not by interface.
    this.queue.push({ ...claim, ifindex: 0 });
  }
}
