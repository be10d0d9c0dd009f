// A NETLINK_ROUTE socket of our own for address requests in batches (lib/net/address-batch.ts), bound
// through koffi like the AF_PACKET socket: the netlink package sends one message per datagram and reads
// every acknowledgement through a JavaScript callback of its own. Non-blocking; subscribed to nothing, so
// only acknowledgements arrive on it.
import { constants as osConstants } from "node:os";
import type { NetlinkChannel } from "./address-batch";
import {
  AF_NETLINK,
  errnoName,
  int32,
  libc,
  MSG_DONTWAIT,
  NETLINK_ROUTE,
  setReceiveBuffer,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_RAW,
  SOCKADDR_NL_SIZE,
  SOL_NETLINK,
} from "./libc";

/** Acknowledgements of failed requests without a copy of the request: they stay small. */
const NETLINK_CAP_ACK = 10;
const { EAGAIN, EINTR, EBADF } = osConstants.errno;
/** Room for the acknowledgements of a whole batch (MAX_BATCH) with plenty to spare. */
const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;
/** One acknowledgement is 36 bytes; a datagram never holds more than a few. */
const DATAGRAM_ROOM = 64 * 1024;

export function openNetlinkChannel(): NetlinkChannel {
  const c = libc();
  const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd < 0) throw new Error(`netlink socket: ${errnoName(c.errno())}`);
  const kernel = Buffer.alloc(SOCKADDR_NL_SIZE);
  kernel.writeUInt16LE(AF_NETLINK, 0); // nl_pid 0, nl_groups 0: the kernel
  try {
    if (c.bind(fd, kernel, SOCKADDR_NL_SIZE) < 0) throw new Error(`netlink bind: ${errnoName(c.errno())}`);
    c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, int32(1), 4);
    // Root may go beyond net.core.rmem_max; otherwise the capped size still holds a batch's acknowledgements.
    setReceiveBuffer(c, fd, RECEIVE_BUFFER_BYTES);
  } catch (error) {
    c.close(fd);
    throw error;
  }
  const room = Buffer.alloc(DATAGRAM_ROOM);
  const from = Buffer.alloc(SOCKADDR_NL_SIZE);
  const fromLength = Buffer.alloc(4);
  let open = true;
  return {
    send(datagram: Buffer): number {
      if (!open) return EBADF;
      const sent = c.sendto(fd, datagram, datagram.length, 0, kernel, SOCKADDR_NL_SIZE);
      return sent < 0 ? c.errno() : 0;
    },
    receive(): Buffer | number | undefined {
      if (!open) return undefined;
      for (;;) {
        fromLength.writeUInt32LE(SOCKADDR_NL_SIZE, 0);
        const length = c.recvfrom(fd, room, room.length, MSG_DONTWAIT, from, fromLength);
        if (length >= 0) return room.subarray(0, length);
        const errno = c.errno();
        if (errno === EINTR) continue;
        return errno === EAGAIN ? undefined : errno;
      }
    },
    close(): void {
      if (!open) return;
      open = false;
      c.close(fd);
    },
  };
}
