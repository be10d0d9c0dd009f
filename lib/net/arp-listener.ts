// Receives ARP frames on every interface of the namespace through one AF_PACKET socket (protocol ETH_P_ARP,
// so the kernel hands it nothing else). Non-blocking: the caller drains it on its own timer, because Node
// cannot watch a packet socket's fd for readability.
import {
  AF_PACKET,
  errnoName,
  libc,
  MSG_DONTWAIT,
  setReceiveBuffer,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_RAW,
} from "./libc";
import { ETHERTYPE_ARP } from "./arp-frame";
import { MessageBatch } from "./packet-socket";

/** sll_pkttype of a frame this host sent (linux/if_packet.h PACKET_OUTGOING). */
export const PACKET_OUTGOING = 4;
/** linux/socket.h SOL_PACKET and linux/if_packet.h PACKET_IGNORE_OUTGOING (Linux 4.20). */
const SOL_PACKET = 263;
const PACKET_IGNORE_OUTGOING = 23;
/**
 * The socket is drained every 100 ms (the daemon's pulse). A queued ARP frame takes ~830 bytes of buffer
 * (its skb), and the kernel doubles what is asked: 2,521 frames fit between two reads (measured on a veth),
 * 25,000 a second of ARP on the segment before any is dropped; the default buffer held ~250.
 */
const RECEIVE_BUFFER_BYTES = 1 << 20;
/**
 * Frames per recvmmsg call. A large takeover brings the peers' announcements by the tens of thousands, and one
 * recvfrom per frame (a native call and a system call each) was ~3% of a 10,000-VIP start-up's main thread.
 */
const RECEIVE_BATCH = 64;
/** Room per received frame: an ARP frame is 42-64 bytes; a longer frame is cut to the room (its ARP part fits). */
const RECEIVE_ROOM = 128;

export interface ReceivedFrame {
  readonly ifindex: number;
  /** sll_pkttype: 0 to us, 1 broadcast, 2 multicast, 3 to another host, 4 sent by us. */
  readonly pkttype: number;
  readonly bytes: Buffer;
}

/** Where received frames come from; the conflict monitor depends on this, tests fake it. */
export interface FrameSource {
  /**
   * Frames queued now, oldest first, at most `max` (and possibly fewer while more are queued: call again
   * until [] comes back). Their bytes may be views of memory the next call reuses: read them before it.
   */
  receive(max: number): ReceivedFrame[];
  close(): void;
}

export class ArpListener implements FrameSource {
  private fd: number;
  /** Native memory for one recvmmsg call, allocated on first use. */
  private batch: MessageBatch | undefined;

  constructor() {
    const protocol = ((ETHERTYPE_ARP & 0xff) << 8) | (ETHERTYPE_ARP >> 8); // htons
    const fd = libc().socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0)
      throw new Error(`socket(AF_PACKET, ARP) failed: ${errnoName(libc().errno())} (needs CAP_NET_RAW)`);
    this.fd = fd;
    // Our own frames are never claims (the monitor skips them): a takeover of 1,000 VIPs sends ~10,000 GARPs,
    // and reading each one back cost a syscall and a parse on the main thread. Older kernels refuse the
    // option; the monitor's own PACKET_OUTGOING check still applies there.
    const one = Buffer.alloc(4);
    one.writeInt32LE(1, 0);
    libc().setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, one, 4);
    setReceiveBuffer(libc(), fd, RECEIVE_BUFFER_BYTES);
  }

  /** At most one recvmmsg's worth (RECEIVE_BATCH); each frame's bytes are a view of the batch's memory. */
  receive(max: number): ReceivedFrame[] {
    if (this.fd < 0 || max <= 0) return [];
    const batch = (this.batch ??= new MessageBatch(RECEIVE_BATCH, RECEIVE_ROOM));
    const asked = Math.min(RECEIVE_BATCH, max);
    let n: number;
    for (;;) {
      batch.resetAddressLengths(asked);
      n = libc().recvmmsg(this.fd, batch.native, asked, MSG_DONTWAIT);
      if (n >= 0) break;
      const name = errnoName(libc().errno());
      if (name === "EAGAIN" || name === "EWOULDBLOCK") return [];
      if (name !== "EINTR") throw new Error(`recvmmsg(AF_PACKET, ARP) failed: ${name}`);
    }
    const bytes = batch.bytes;
    const out: ReceivedFrame[] = [];
    for (let i = 0; i < n; i++) {
      const from = batch.addressAt(i);
      const start = batch.frameAt(i);
      out.push({
        ifindex: bytes.readInt32LE(from + 4),
        pkttype: bytes[from + 10],
        // No copy (one per frame was most of the read's cost at tens of thousands of frames): the caller
        // reads the frame before its next call.
        bytes: bytes.subarray(start, start + Math.min(batch.received(i), RECEIVE_ROOM)),
      });
    }
    return out;
  }

  close(): void {
    if (this.fd >= 0) libc().close(this.fd);
    this.fd = -1;
    this.batch?.free();
    this.batch = undefined;
  }
}
