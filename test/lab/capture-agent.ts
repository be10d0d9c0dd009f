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
  SOCK_CLOEXEC,
  SOCK_RAW,
} from "../../lib/net/libc";

const ifname = process.argv[2] ?? "eth0";
const c = libc();
const ifindex = c.if_nametoindex(ifname);
if (ifindex === 0) throw new Error(`capture: no interface ${ifname}`);
const fd = c.socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0x0300 /* htons(ETH_P_ALL) */);
if (fd < 0) throw new Error(`capture: socket failed: ${errnoName(c.errno())}`);
const bindAddress = sockaddrLl(ifindex, ETH_P_ALL);
if (c.bind(fd, bindAddress, bindAddress.length) < 0)
  throw new Error(`capture: bind failed: ${errnoName(c.errno())}`);

const write = (line: string): void => {
  process.stdout.write(line + "\n");
};
write(JSON.stringify({ event: "ready", at: process.hrtime.bigint().toString(), ifindex }));

const frame = Buffer.alloc(65536);
const from = Buffer.alloc(20);
const fromLength = Buffer.alloc(4);
for (;;) {
  fromLength.writeUInt32LE(from.length, 0);
  const n = c.recvfrom(fd, frame, frame.length, 0, from, fromLength);
  const at = process.hrtime.bigint();
  if (n < 0) {
    const name = errnoName(c.errno());
    if (name === "EINTR") continue;
    throw new Error(`capture: recvfrom failed: ${name}`);
  }
  write(
    JSON.stringify({
      event: "frame",
      at: at.toString(),
      pkttype: from[10],
      hex: frame.subarray(0, n).toString("hex"),
    }),
  );
}
