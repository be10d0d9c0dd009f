// Sends whole Ethernet frames on an interface through an AF_PACKET socket: ARP has no socket API in Node,
// and NAs built here (checksum included) go out the same way, many per system call (sendmmsg).
import {
  AF_PACKET,
  errnoName,
  libc,
  nativeBuffer,
  sockaddrLl,
  SOCKADDR_LL_SIZE,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_RAW,
  type NativeBuffer,
} from "./libc";

/** Where frames go; the announcer depends on this, the lab and unit tests can fake it. */
export interface FrameSink {
  /** Returns false when the kernel queue is full (EAGAIN/ENOBUFS) so the caller can retry later. */
  send(ifindex: number, frame: Buffer): boolean;
  /** Sends frames in order, many per system call; returns how many the kernel took (see PacketSocket). */
  sendMany?(frames: readonly OutgoingFrame[]): number;
  close(): void;
}

export interface OutgoingFrame {
  readonly ifindex: number;
  /** A whole Ethernet frame; its EtherType (bytes 12-13) becomes the link-layer protocol. */
  readonly frame: Uint8Array;
}

/** Frames per sendmmsg call. */
export const SEND_BATCH = 64;
/** Room per frame in the native batch buffer; longer frames go out one by one through sendto. */
const FRAME_ROOM = 256;
/** x86-64 / aarch64 layouts (64-bit Linux): struct mmsghdr, struct iovec, struct sockaddr_ll rounded up. */
const MMSGHDR_SIZE = 64;
/** struct mmsghdr's msg_namelen: the room for the address in, its size out (recvmmsg). */
const MSG_NAMELEN_AT = 8;
/** struct mmsghdr's msg_len: what the kernel received into (or sent from) message i. */
const MSG_LEN_AT = 56;
const IOVEC_SIZE = 16;
const SOCKADDR_ROOM = 24;

/**
 * Native memory for `slots` messages of one sendmmsg/recvmmsg call, every pointer in place: message i names
 * address i and iovec i, iovec i points at frame room i (`room` bytes each). Per call only the frames, their
 * lengths and their addresses' contents change.
 */
export class MessageBatch {
  readonly native: NativeBuffer;
  private readonly iovecsAt: number;
  private readonly addressesAt: number;
  private readonly framesAt: number;

  constructor(
    slots: number,
    private readonly room: number,
  ) {
    this.iovecsAt = slots * MMSGHDR_SIZE;
    this.addressesAt = this.iovecsAt + slots * IOVEC_SIZE;
    this.framesAt = this.addressesAt + slots * SOCKADDR_ROOM;
    this.native = nativeBuffer(this.framesAt + slots * room);
    const { bytes, address } = this.native;
    bytes.fill(0);
    for (let i = 0; i < slots; i++) {
      const header = i * MMSGHDR_SIZE;
      const iovec = this.iovecsAt + i * IOVEC_SIZE;
      const sockaddr = this.addressAt(i);
      bytes.writeBigUInt64LE(address + BigInt(sockaddr), header); // msg_name
      bytes.writeUInt32LE(SOCKADDR_LL_SIZE, header + MSG_NAMELEN_AT);
      bytes.writeBigUInt64LE(address + BigInt(iovec), header + 16); // msg_iov
      bytes.writeBigUInt64LE(1n, header + 24); // msg_iovlen
      bytes.writeBigUInt64LE(address + BigInt(this.frameAt(i)), iovec); // iov_base
      bytes.writeUInt32LE(room, iovec + 8); // iov_len: the whole room (a send sets each frame's own)
      bytes.writeUInt16LE(AF_PACKET, sockaddr); // sll_family
      bytes[sockaddr + 11] = 6; // sll_halen
    }
  }

  get bytes(): Buffer {
    return this.native.bytes;
  }

  /** Where message i's struct sockaddr_ll starts. */
  addressAt(i: number): number {
    return this.addressesAt + i * SOCKADDR_ROOM;
  }

  /** Where message i's frame room starts. */
  frameAt(i: number): number {
    return this.framesAt + i * this.room;
  }

  /** Sets message i's frame length (iov_len; its high half stays 0). */
  setLength(i: number, length: number): void {
    this.native.bytes.writeUInt32LE(length, this.iovecsAt + i * IOVEC_SIZE + 8);
  }

  /** How many bytes the kernel received into message i (msg_len). */
  received(i: number): number {
    return this.native.bytes.readUInt32LE(i * MMSGHDR_SIZE + MSG_LEN_AT);
  }

  /** Before a recvmmsg: the kernel overwrites msg_namelen with the size of the address it wrote. */
  resetAddressLengths(count: number): void {
    for (let i = 0; i < count; i++)
      this.native.bytes.writeUInt32LE(SOCKADDR_LL_SIZE, i * MMSGHDR_SIZE + MSG_NAMELEN_AT);
  }

  free(): void {
    this.native.free();
  }
}

export class PacketSocket implements FrameSink {
  private fd: number;
  /** Native memory for one sendmmsg batch, allocated on first use: slots of mmsghdr, iovec, address, frame. */
  private batch: MessageBatch | undefined;

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
    return this.softFailure(`sendto(AF_PACKET, ifindex ${ifindex})`);
  }

  /**
   * Sends `frames` in order, up to SEND_BATCH per system call, and returns how many the kernel took: fewer
   * than asked when its queue filled up (retry the rest later). Throws when the first frame fails for any
   * other reason; a hard failure further in returns the count before it, so the next call reports it.
   */
  sendMany(frames: readonly OutgoingFrame[]): number {
    if (this.fd < 0) throw new Error("packet socket is closed");
    let done = 0;
    while (done < frames.length) {
      const first = frames[done];
      if (first.frame.length > FRAME_ROOM) {
        const one = Buffer.from(first.frame.buffer, first.frame.byteOffset, first.frame.length);
        if (!this.send(first.ifindex, one)) return done;
        done++;
        continue;
      }
      const count = this.fill(frames, done);
      const sent = libc().sendmmsg(this.fd, this.batch!.native, count, 0);
      if (sent < 0) {
        // A full queue returns what went so far; a hard error throws only when it is the first frame.
        if (done === 0) this.softFailure(`sendmmsg(AF_PACKET, ifindex ${first.ifindex})`);
        return done;
      }
      done += sent;
      if (sent < count) return done;
    }
    return done;
  }

  close(): void {
    if (this.fd >= 0) libc().close(this.fd);
    this.fd = -1;
    this.batch?.free();
    this.batch = undefined;
  }

  /** Writes frames[from..] (up to a batch of short ones) into the native buffer; returns how many. */
  private fill(frames: readonly OutgoingFrame[], from: number): number {
    this.batch ??= new MessageBatch(SEND_BATCH, FRAME_ROOM);
    const batch = this.batch;
    const bytes = batch.bytes;
    let count = 0;
    for (let i = from; i < frames.length && count < SEND_BATCH; i++, count++) {
      const { ifindex, frame } = frames[i];
      if (frame.length > FRAME_ROOM) break;
      bytes.set(frame, batch.frameAt(count));
      batch.setLength(count, frame.length);
      const sockaddr = batch.addressAt(count);
      bytes[sockaddr + 2] = frame[12]; // sll_protocol: the frame's EtherType, network order
      bytes[sockaddr + 3] = frame[13];
      bytes.writeInt32LE(ifindex, sockaddr + 4);
      bytes.set(frame.subarray(0, 6), sockaddr + 12); // sll_addr: the destination MAC
    }
    return count;
  }

  /** false for a full kernel queue (the caller retries later); throws for anything else. */
  private softFailure(what: string): boolean {
    const name = errnoName(libc().errno());
    if (name === "EAGAIN" || name === "EWOULDBLOCK" || name === "ENOBUFS") return false;
    throw new Error(`${what} failed: ${name}`);
  }
}
