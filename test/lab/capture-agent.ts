// Frame capture inside a lab namespace with our own AF_PACKET receiver (no tcpdump). A dedicated process
// with a blocking receive loop, so each frame is stamped right as recvfrom returns; process.hrtime is
// CLOCK_MONOTONIC and so comparable with the other lab processes. Prints one JSON line per frame:
// {event:"frame", at, pkttype, hex}. pkttype is sll_pkttype (0 host, 1 broadcast, 2 multicast, 4 outgoing).
import {
  AF_PACKET,
  errnoName,
  ETH_P_ALL,
  libc,
  sockaddrLl,
  SO_RCVBUFFORCE,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_SOCKET,
} from "../../lib/net/libc";
import { writeSync } from "node:fs";

const ifname = process.argv[2] ?? "eth0";
const c = libc();
const ifindex = c.if_nametoindex(ifname);
if (ifindex === 0) throw new Error(`capture: no interface ${ifname}`);
const fd = c.socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0x0300 /* htons(ETH_P_ALL) */);
if (fd < 0) throw new Error(`capture: socket failed: ${errnoName(c.errno())}`);
// A failover of thousands of VIPs arrives as a burst of thousands of frames, faster than one JSON line per
// frame can be written: a 64 MiB buffer (root ignores rmem_max with FORCE) holds the burst instead of dropping it.
const rcvbuf = Buffer.alloc(4);
rcvbuf.writeInt32LE(64 * 1024 * 1024, 0);
if (c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf, 4) < 0)
  throw new Error(`capture: SO_RCVBUFFORCE failed: ${errnoName(c.errno())}`);
// Frames are stamped by the kernel as they arrive (SIOCGSTAMPNS after each read), not when this process gets
// to read them: on a loaded machine a burst of thousands of frames waits in the buffer for a while, and a
// read-time stamp made the last of them look seconds late. The stamp is wall clock; it is turned into the
// monotonic time the other lab processes use with an offset taken once, here.
const SIOCGSTAMPNS = 0x8907;
const stamp = Buffer.alloc(16);
c.ioctl(fd, SIOCGSTAMPNS, stamp); // the first call switches timestamping on (and fails: no frame yet)
const wallMinusMonotonicNs =
  BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6)) - process.hrtime.bigint();
const kernelStamp = (): bigint | undefined => {
  if (c.ioctl(fd, SIOCGSTAMPNS, stamp) < 0) return undefined;
  return stamp.readBigInt64LE(0) * 1_000_000_000n + stamp.readBigInt64LE(8) - wallMinusMonotonicNs;
};
const bindAddress = sockaddrLl(ifindex, ETH_P_ALL);
if (c.bind(fd, bindAddress, bindAddress.length) < 0)
  throw new Error(`capture: bind failed: ${errnoName(c.errno())}`);

// The receive loop below never yields to the event loop, so process.stdout.write would queue forever once
// the pipe is full (libuv flushes it from the loop). Output is written by hand, and never waited for: while
// the reader is behind, frames keep being received (and stamped as they arrive) into `backlog`.
let backlog = Buffer.alloc(0);
const flush = (): void => {
  while (backlog.length > 0) {
    try {
      backlog = backlog.subarray(writeSync(1, backlog));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EAGAIN") return;
      throw e;
    }
  }
};
const pause = new Int32Array(new SharedArrayBuffer(4));
const write = (line: string): void => {
  backlog = Buffer.concat([backlog, Buffer.from(line + "\n")]);
  flush();
};
write(JSON.stringify({ event: "ready", at: process.hrtime.bigint().toString(), ifindex }));

// While output is pending (lines not yet written, or written only in part), frames are read without
// blocking; lines go out in one write once no frame is queued, so a burst costs few writes.
const MSG_DONTWAIT = 0x40;
const frame = Buffer.alloc(65536);
const from = Buffer.alloc(20);
const fromLength = Buffer.alloc(4);
let pending: string[] = [];
for (;;) {
  fromLength.writeUInt32LE(from.length, 0);
  const busy = pending.length > 0 || backlog.length > 0;
  const n = c.recvfrom(fd, frame, frame.length, busy ? MSG_DONTWAIT : 0, from, fromLength);
  const readAt = process.hrtime.bigint();
  if (n < 0) {
    const name = errnoName(c.errno());
    if (name === "EAGAIN" || name === "EWOULDBLOCK") {
      if (pending.length > 0) {
        backlog = Buffer.concat([backlog, Buffer.from(pending.join(""))]);
        pending = [];
      }
      flush();
      // The reader is behind and no frame is queued: look again in 1 ms.
      if (backlog.length > 0) Atomics.wait(pause, 0, 0, 1);
      continue;
    }
    if (name === "EINTR") continue;
    throw new Error(`capture: recvfrom failed: ${name}`);
  }
  const at = kernelStamp() ?? readAt;
  pending.push(
    JSON.stringify({
      event: "frame",
      at: at.toString(),
      pkttype: from[10],
      hex: frame.subarray(0, n).toString("hex"),
    }) + "\n",
  );
}
