// Sends whole Ethernet frames on an interface through an AF_PACKET socket (ARP has no socket API in Node).
import { AF_PACKET, errnoName, libc, sockaddrLl, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_RAW } from "./libc";

/** Where frames go; the announcer depends on this, the lab and unit tests can fake it. */
export interface FrameSink {
  /** Returns false when the kernel queue is full (EAGAIN/ENOBUFS) so the caller can retry later. */
  send(ifindex: number, frame: Buffer): boolean;
  close(): void;
}

export class PacketSocket implements FrameSink {
  private fd: number;

  constructor() {
    // Protocol 0: this socket only sends, so the kernel must not queue received frames on it.
    const fd = libc().socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error(`socket(AF_PACKET) failed: ${errnoName(libc().errno())} (needs CAP_NET_RAW)`);
    this.fd = fd;
  }

  send(ifindex: number, frame: Buffer): boolean {
    if (this.fd < 0) throw new Error("packet socket is closed");
    const address = sockaddrLl(ifindex, frame.readUInt16BE(12), frame.subarray(0, 6));
    const sent = libc().sendto(this.fd, frame, frame.length, 0, address, address.length);
    if (sent >= 0) return true;
    const errno = libc().errno();
    const name = errnoName(errno);
    if (name === "EAGAIN" || name === "EWOULDBLOCK" || name === "ENOBUFS") return false;
    throw new Error(`sendto(AF_PACKET, ifindex ${ifindex}) failed: ${name}`);
  }

  close(): void {
    if (this.fd >= 0) libc().close(this.fd);
    this.fd = -1;
  }
}
