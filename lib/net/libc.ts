// The few libc socket calls that Node does not offer (AF_PACKET), bound through koffi. Loaded lazily so
// that importing lib/net on a machine without glibc fails only when packets are actually sent.
import koffi from "koffi";
import { constants as osConstants } from "node:os";

export const AF_PACKET = 17;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const ETH_P_ALL = 0x0003;
export const SOL_SOCKET = 1;
export const SO_RCVBUF = 8;
export const SO_SNDBUF = 7;
/** Root may set a receive buffer beyond net.core.rmem_max. */
export const SO_RCVBUFFORCE = 33;
export const SO_SNDBUFFORCE = 32;
export const SOCKADDR_LL_SIZE = 20;
export const AF_NETLINK = 16;
export const NETLINK_ROUTE = 0;
export const SOL_NETLINK = 270;
/** struct sockaddr_nl: family (u16), pad (u16), nl_pid (u32), nl_groups (u32). */
export const SOCKADDR_NL_SIZE = 12;
export const MSG_DONTWAIT = 0x40;

export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, address: Buffer, length: number): number;
  sendto(
    fd: number,
    data: Buffer,
    length: number,
    flags: number,
    address: Buffer,
    addressLength: number,
  ): number;
  /** `address` receives a sockaddr, `addressLength` (a 4-byte buffer) its size in and out. */
  recvfrom(
    fd: number,
    data: Buffer,
    length: number,
    flags: number,
    address: Buffer,
    addressLength: Buffer,
  ): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, length: number): number;
  /** `length` is a 4-byte buffer holding the room in `value` on the way in and the size used on the way out. */
  getsockopt(fd: number, level: number, name: number, value: Buffer, length: Buffer): number;
  /** `address` receives the socket's own address, `length` (a 4-byte buffer) its size in and out. */
  getsockname(fd: number, address: Buffer, length: Buffer): number;
  close(fd: number): number;
  /** `arg` is the request's in/out buffer. */
  ioctl(fd: number, request: number, arg: Buffer): number;
  if_nametoindex(name: string): number;
  /** `messages` is native memory (nativeBuffer) holding `count` struct mmsghdr. */
  sendmmsg(fd: number, messages: NativeBuffer, count: number, flags: number): number;
  /** `messages` as for sendmmsg; no timeout (the socket is non-blocking). Returns how many arrived, or -1. */
  recvmmsg(fd: number, messages: NativeBuffer, count: number, flags: number): number;
  errno(): number;
  /** CPU time of the calling thread in ms (CLOCK_THREAD_CPUTIME_ID): user and kernel, not time preempted. */
  threadCpuMs(): number;
  /** glibc's malloc_trim(0): gives the free pages of every malloc arena back to the kernel; 1 if any. */
  mallocTrim(): number;
  /** fcntl(2) with an int argument (F_SETPIPE_SZ, F_GETPIPE_SZ, ...). */
  fcntl(fd: number, command: number, arg: number): number;
}

const CLOCK_THREAD_CPUTIME_ID = 3;

/** Memory outside the V8 heap, for structures that hold pointers (struct mmsghdr, struct iovec). */
export interface NativeBuffer {
  /** What koffi passes as a `void *` argument. */
  readonly pointer: unknown;
  /** Its address, for pointers stored inside the buffer itself. */
  readonly address: bigint;
  /** The same memory, writable from JS without copies. */
  readonly bytes: Buffer;
  free(): void;
}

export function nativeBuffer(size: number): NativeBuffer {
  const pointer: unknown = koffi.alloc("uint8_t", size);
  let freed = false;
  return {
    pointer,
    address: koffi.address(pointer),
    bytes: Buffer.from(koffi.view(pointer, size)),
    free: () => {
      if (!freed) koffi.free(pointer);
      freed = true;
    },
  };
}

let loaded: Libc | undefined;

export function libc(): Libc {
  if (loaded) return loaded;
  const lib = koffi.load("libc.so.6");
  const socket = lib.func("int socket(int, int, int)");
  const bind = lib.func("int bind(int, const void *, uint32_t)");
  const sendto = lib.func("intptr_t sendto(int, const void *, size_t, int, const void *, uint32_t)");
  const recvfrom = lib.func("intptr_t recvfrom(int, void *, size_t, int, void *, void *)");
  const setsockopt = lib.func("int setsockopt(int, int, int, const void *, uint32_t)");
  const getsockopt = lib.func("int getsockopt(int, int, int, void *, void *)");
  const getsockname = lib.func("int getsockname(int, void *, void *)");
  const close = lib.func("int close(int)");
  const ioctl = lib.func("int ioctl(int, unsigned long, void *)");
  const ifNameToIndex = lib.func("unsigned int if_nametoindex(const char *)");
  const sendmmsg = lib.func("int sendmmsg(int, void *, unsigned int, int)");
  const recvmmsg = lib.func("int recvmmsg(int, void *, unsigned int, int, void *)");
  const clockGettime = lib.func("int clock_gettime(int, void *)");
  // Bound on first use: a libc without it (not glibc) must not take the socket calls down with it.
  let mallocTrim: ((pad: number) => unknown) | undefined;
  let fcntl: ((fd: number, command: number, type: string, arg: number) => unknown) | undefined;
  const timespec = Buffer.alloc(16);
  const num = (v: unknown): number => Number(v);
  loaded = {
    socket: (d, t, p) => num(socket(d, t, p)),
    bind: (fd, a, l) => num(bind(fd, a, l)),
    sendto: (fd, data, len, flags, a, al) => num(sendto(fd, data, len, flags, a, al)),
    recvfrom: (fd, data, len, flags, a, al) => num(recvfrom(fd, data, len, flags, a, al)),
    setsockopt: (fd, level, name, value, len) => num(setsockopt(fd, level, name, value, len)),
    getsockopt: (fd, level, name, value, len) => num(getsockopt(fd, level, name, value, len)),
    getsockname: (fd, address, len) => num(getsockname(fd, address, len)),
    close: (fd) => num(close(fd)),
    ioctl: (fd, request, arg) => num(ioctl(fd, request, arg)),
    if_nametoindex: (name) => num(ifNameToIndex(name)),
    sendmmsg: (fd, messages, count, flags) => num(sendmmsg(fd, messages.pointer, count, flags)),
    recvmmsg: (fd, messages, count, flags) => num(recvmmsg(fd, messages.pointer, count, flags, null)),
    errno: () => koffi.errno(),
    threadCpuMs: () => {
      clockGettime(CLOCK_THREAD_CPUTIME_ID, timespec);
      return Number(timespec.readBigInt64LE(0)) * 1000 + Number(timespec.readBigInt64LE(8)) / 1e6;
    },
    mallocTrim: () => {
      mallocTrim ??= lib.func("int malloc_trim(size_t)") as (pad: number) => unknown;
      return num(mallocTrim(0));
    },
    fcntl: (fd, command, arg) => {
      // Variadic in C: koffi passes the extra argument with its type.
      fcntl ??= lib.func("int fcntl(int, int, ...)") as typeof fcntl & object;
      return num(fcntl(fd, command, "int", arg));
    },
  };
  return loaded;
}

let errnoNames: Map<number, string> | undefined;

export function errnoName(errno: number): string {
  // Called per refused frame or address request: thousands in a takeover, so not a search each time.
  if (!errnoNames) {
    errnoNames = new Map();
    // The first name of a number, as before (EAGAIN, not its alias EWOULDBLOCK).
    for (const [name, value] of Object.entries(osConstants.errno))
      if (!errnoNames.has(value)) errnoNames.set(value, name);
  }
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

/** struct sockaddr_ll (linux/if_packet.h) in host byte order, protocol in network order. */
export function sockaddrLl(ifindex: number, protocol: number, mac?: Buffer): Buffer {
  const sa = Buffer.alloc(SOCKADDR_LL_SIZE);
  sa.writeUInt16LE(AF_PACKET, 0);
  sa.writeUInt16BE(protocol, 2);
  sa.writeInt32LE(ifindex, 4);
  if (mac) {
    sa.writeUInt8(mac.length, 11);
    mac.copy(sa, 12);
  }
  return sa;
}

/** An int socket option's value, as setsockopt takes it. */
export function int32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value, 0);
  return b;
}

/**
 * A receive buffer of `bytes`: beyond net.core.rmem_max when the process may (CAP_NET_ADMIN), else as much as
 * the cap allows.
 */
export function setReceiveBuffer(c: Libc, fd: number, bytes: number): void {
  if (c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, int32(bytes), 4) < 0)
    c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, int32(bytes), 4);
}

/** A send buffer of `bytes`, as setReceiveBuffer does for receiving. Returns the kernel's figure, or -1. */
export function setSendBuffer(c: Libc, fd: number, bytes: number): number {
  if (c.setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, int32(bytes), 4) < 0)
    c.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, int32(bytes), 4);
  const value = Buffer.alloc(4);
  const length = int32(4);
  return c.getsockopt(fd, SOL_SOCKET, SO_SNDBUF, value, length) < 0 ? -1 : value.readInt32LE(0);
}
