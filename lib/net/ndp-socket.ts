// Sends ICMPv6 Neighbor Advertisements through a raw ICMPv6 socket, opened and written with libc calls (as
// the AF_PACKET socket is). The kernel builds the IPv6 header (source = the link's link-local address) and
// fills the ICMPv6 checksum, which it always does on raw ICMPv6 sockets (RFC 3542 §3.1).
//
// Not the `raw-socket` package: it queues every send and writes one datagram per event-loop turn (a poll
// callback each), so a takeover of 3,000 IPv6 VIPs spent 15-20 s on its first round while the loop was busy.
// sendto() on a non-blocking socket is synchronous and says at once when the kernel queue is full.
import { errnoName, libc, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_RAW } from "./libc";
import { ALL_NODES, NDP_HOP_LIMIT } from "./ndp-frame";
import { ipToBytes } from "./wire";

const AF_INET6 = 10;
const IPPROTO_IPV6 = 41;
const IPPROTO_ICMPV6 = 58;
const ICMP6_FILTER = 1;
const IPV6_MULTICAST_HOPS = 18;
const IPV6_MULTICAST_LOOP = 19;
const SOCKADDR_IN6_SIZE = 28;
const ALL_NODES_BYTES = ipToBytes(ALL_NODES, 6);

export class NdpSocket {
  private fd: number;

  constructor() {
    const c = libc();
    const fd = c.socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
    if (fd < 0)
      throw new Error(`socket(AF_INET6, ICMPv6) failed: ${errnoName(c.errno())} (needs CAP_NET_RAW)`);
    this.fd = fd;
    const int = (value: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeInt32LE(value);
      return b;
    };
    const options: Array<[number, number, Buffer]> = [
      // Send-only: an all-ones filter blocks every ICMPv6 type, so nothing is queued for us to read.
      [IPPROTO_ICMPV6, ICMP6_FILTER, Buffer.alloc(32, 0xff)],
      [IPPROTO_IPV6, IPV6_MULTICAST_HOPS, int(NDP_HOP_LIMIT)],
      [IPPROTO_IPV6, IPV6_MULTICAST_LOOP, int(0)],
    ];
    for (const [level, name, value] of options) {
      if (c.setsockopt(fd, level, name, value, value.length) < 0) {
        const error = errnoName(c.errno());
        this.close();
        throw new Error(`setsockopt(${level}, ${name}) on the ICMPv6 socket failed: ${error}`);
      }
    }
  }

  /**
   * Sends `message` to ff02::1 on the interface `ifindex` (the scope id picks it). false = the kernel queue
   * is full right now (the announcer retries); throws on hard errors.
   */
  send(ifindex: number, message: Buffer): boolean {
    if (this.fd < 0) throw new Error("NDP socket is closed");
    const address = Buffer.alloc(SOCKADDR_IN6_SIZE);
    address.writeUInt16LE(AF_INET6, 0);
    ALL_NODES_BYTES.copy(address, 8);
    address.writeUInt32LE(ifindex, 24);
    const c = libc();
    if (c.sendto(this.fd, message, message.length, 0, address, address.length) >= 0) return true;
    const name = errnoName(c.errno());
    if (name === "EAGAIN" || name === "EWOULDBLOCK" || name === "ENOBUFS") return false;
    throw new Error(`sendto(ICMPv6, ifindex ${ifindex}) failed: ${name}`);
  }

  close(): void {
    if (this.fd >= 0) libc().close(this.fd);
    this.fd = -1;
  }
}
