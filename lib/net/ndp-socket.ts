// Sends ICMPv6 Neighbor Advertisements through a raw ICMPv6 socket (the `raw-socket` package). The kernel
// builds the IPv6 header (source = the link's link-local address) and fills the ICMPv6 checksum, which it
// always does on raw ICMPv6 sockets (RFC 3542 §3.1).
import * as raw from "raw-socket";
import { ALL_NODES, NDP_HOP_LIMIT } from "./ndp-frame";

const IPPROTO_ICMPV6 = 58;
const ICMP6_FILTER = 1;
const IPV6_MULTICAST_HOPS = 18;
const IPV6_MULTICAST_LOOP = 19;
/**
 * raw-socket queues sends in JS and writes one per event-loop turn. Past this many unsent, send() says "full"
 * so the announcer keeps the frames: its queue drops those of a VIP that was lost meanwhile, raw-socket's
 * cannot.
 */
const MAX_IN_FLIGHT = 256;
/**
 * Sockets in the pool: raw-socket writes one datagram per socket per loop turn, so a takeover of thousands
 * of IPv6 VIPs on a busy loop came out at a few frames per turn; 16 sockets send 16 per turn.
 */
const POOL_SIZE = 16;

export class NdpSocket {
  private readonly sockets: raw.Socket[] = [];
  private next = 0;
  private closed = false;
  /** Handed to raw-socket, not yet written to the kernel. */
  inFlight = 0;
  sendErrors = 0;
  lastError: string | undefined;

  constructor() {
    for (let i = 0; i < POOL_SIZE; i++) {
      const socket = raw.createSocket({
        addressFamily: raw.AddressFamily.IPv6,
        protocol: raw.Protocol.ICMPv6,
      });
      socket.on("error", (error: Error) => this.recordError(error));
      // Send-only: an all-ones filter blocks every ICMPv6 type, so nothing is queued for us to read.
      socket.setOption(IPPROTO_ICMPV6, ICMP6_FILTER, Buffer.alloc(32, 0xff), 32);
      socket.setOption(raw.SocketLevel.IPPROTO_IPV6, IPV6_MULTICAST_HOPS, NDP_HOP_LIMIT);
      socket.setOption(raw.SocketLevel.IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
      socket.pauseRecv();
      this.sockets.push(socket);
    }
  }

  /** Queues `message` to ff02::1 on `ifname` (the zone picks the interface); false while too many are unsent. */
  send(ifname: string, message: Buffer): boolean {
    if (this.closed) throw new Error("NDP socket is closed");
    if (this.inFlight >= MAX_IN_FLIGHT) return false;
    this.inFlight++;
    const socket = this.sockets[this.next++ % POOL_SIZE] as raw.Socket;
    socket.send(message, 0, message.length, `${ALL_NODES}%${ifname}`, null, (error) => {
      this.inFlight--;
      if (error) this.recordError(error);
    });
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const socket of this.sockets) socket.close();
  }

  private recordError(error: Error): void {
    this.sendErrors++;
    this.lastError = error.message;
  }
}
