// Socket options the `netlink` package has no API for, set on its sockets through their descriptors.
//
// Why: when a netlink socket's receive queue overflows, the kernel drops the notification and sets the
// socket's pending error to ENOBUFS, and epoll then reports the descriptor with EPOLLERR. libuv hands a
// uv_poll callback EPOLLERR as status UV_EBADF, and the package's native poll handler (src/binding.cc,
// Socket::PollHandler, `status != 0`) builds an ErrnoException with a null `syscall`; node-addon-api's
// String::New(env, nullptr) throws a C++ Napi::Error ("Error in native callback") out of the libuv
// callback, and the process aborts (std::terminate, SIGABRT). So an overflow of the watch's socket killed
// the process instead of reaching the package's 'error' event and our resync. NETLINK_NO_ENOBUFS stops the
// kernel from setting that error: overflows only count in the socket's drop counter (SO_MEMINFO), which the
// watch reads after each burst it receives, and a rise there triggers the same resync.
import { readdirSync, readlinkSync } from "node:fs";
import { constants as osConstants } from "node:os";
import {
  AF_NETLINK,
  int32,
  libc,
  MSG_DONTWAIT,
  setReceiveBuffer,
  SOCKADDR_NL_SIZE,
  SOL_NETLINK,
  SOL_SOCKET,
} from "./libc";

const NETLINK_NO_ENOBUFS = 5;
const SO_PROTOCOL = 38;
const SO_MEMINFO = 55;
/** SO_MEMINFO's u32 array (SK_MEMINFO_VARS, linux/sock_diag.h) and the index of its drop counter. */
const MEMINFO_VALUES = 9;
const SK_MEMINFO_DROPS = 8;
const { EINTR } = osConstants.errno;
/** Enough to empty any receive queue the watch asks for (a 16 MiB queue holds ~15,000 notifications). */
const DISCARD_LIMIT = 100_000;

export interface NetlinkSocketControl {
  readonly fd: number;
  /** Messages the kernel dropped because the receive queue was full, since the socket was opened. */
  drops(): number;
  /**
   * Reads and throws away every message queued on the socket (at most `limit`); returns how many. After a
   * loss, those are older than the dump that replaces them, and applied after it they would undo it.
   */
  discardQueued(limit?: number): number;
}

/**
 * The descriptor of this process's netlink socket bound to `port` (its nl_pid, as `socket.address().port`
 * reports it) for `protocol`. The package does not expose it, so the process's sockets are asked.
 */
export function findNetlinkDescriptor(port: number, protocol: number): number | undefined {
  const c = libc();
  const address = Buffer.alloc(SOCKADDR_NL_SIZE);
  const length = Buffer.alloc(4);
  const value = Buffer.alloc(4);
  for (const name of readdirSync("/proc/self/fd")) {
    const fd = Number(name);
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // closed meanwhile (the directory's own descriptor, among others)
    }
    if (!target.startsWith("socket:")) continue;
    length.writeUInt32LE(SOCKADDR_NL_SIZE, 0);
    if (c.getsockname(fd, address, length) < 0) continue;
    if (address.readUInt16LE(0) !== AF_NETLINK || address.readUInt32LE(4) !== port) continue;
    length.writeUInt32LE(4, 0);
    if (c.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, value, length) < 0) continue;
    if (value.readInt32LE(0) === protocol) return fd;
  }
  return undefined;
}

/**
 * Sets NETLINK_NO_ENOBUFS and a receive buffer of `receiveBufferBytes` (beyond net.core.rmem_max when the
 * process may: CAP_NET_ADMIN) on the netlink socket bound to `port`. Throws if the socket is not found or
 * the option cannot be set: without it, one overflow aborts the process.
 */
export function controlNetlinkSocket(
  port: number,
  protocol: number,
  receiveBufferBytes: number,
): NetlinkSocketControl {
  const fd = findNetlinkDescriptor(port, protocol);
  if (fd === undefined)
    throw new Error(`netlink socket with port ${port}: descriptor not found in /proc/self/fd`);
  const c = libc();
  if (c.setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, int32(1), 4) < 0)
    throw new Error(`netlink socket with port ${port}: NETLINK_NO_ENOBUFS refused (errno ${c.errno()})`);
  setReceiveBuffer(c, fd, receiveBufferBytes);
  const meminfo = Buffer.alloc(MEMINFO_VALUES * 4);
  const length = Buffer.alloc(4);
  const drops = (): number | undefined => {
    length.writeUInt32LE(meminfo.length, 0);
    if (c.getsockopt(fd, SOL_SOCKET, SO_MEMINFO, meminfo, length) < 0) return undefined;
    return length.readUInt32LE(0) > SK_MEMINFO_DROPS * 4
      ? meminfo.readUInt32LE(SK_MEMINFO_DROPS * 4)
      : undefined;
  };
  // Losses must be seen: with NO_ENOBUFS set, the drop counter is the only sign of them.
  if (drops() === undefined)
    throw new Error(`netlink socket with port ${port}: SO_MEMINFO has no drop counter (errno ${c.errno()})`);
  // A truncated read still takes the whole datagram off the queue.
  const scrap = Buffer.alloc(16);
  const from = Buffer.alloc(SOCKADDR_NL_SIZE);
  const fromLength = Buffer.alloc(4);
  const discardQueued = (limit = DISCARD_LIMIT): number => {
    let discarded = 0;
    while (discarded < limit) {
      fromLength.writeUInt32LE(SOCKADDR_NL_SIZE, 0);
      if (c.recvfrom(fd, scrap, scrap.length, MSG_DONTWAIT, from, fromLength) >= 0) discarded++;
      else if (c.errno() !== EINTR) break; // EAGAIN: empty
    }
    return discarded;
  };
  return { fd, drops: () => drops() ?? 0, discardQueued };
}
