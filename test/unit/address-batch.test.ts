// Address requests in batches (lib/net/address-batch.ts) against a fake kernel channel: the bytes of each
// request, acknowledgements matched by sequence number, per-batch confirmation before the next batch goes
// out, batch sizes that follow the kernel's speed, and lost acknowledgements or a busy socket that never
// hang a run. No root needed.
import assert from "node:assert/strict";
import { constants as osConstants } from "node:os";
import { test } from "node:test";
import { libc } from "../../lib/net/libc";
import {
  AddressBatcher,
  encodeAddressRequest,
  FIRST_BATCH,
  MAX_BATCH,
  nextBatchSize,
  parseAcks,
  RTM_DELADDR,
  RTM_NEWADDR,
  type AddressRequest,
  type NetlinkChannel,
} from "../../lib/net/address-batch";
import { VipAddresses } from "../../lib/net/vip-addresses";
import { bytesToIp } from "../../lib/net/wire";

const { EEXIST, EADDRNOTAVAIL, EPERM, ENOBUFS, EAGAIN } = osConstants.errno;
const PROTO = 0x56;

interface Request {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly family: number;
  readonly prefixlen: number;
  readonly ifaFlags: number;
  readonly index: number;
  readonly attrs: Map<number, Buffer>;
}

/** Splits a datagram back into its requests, the way the kernel walks it. */
function decode(datagram: Buffer): Request[] {
  const out: Request[] = [];
  for (let at = 0; at < datagram.length;) {
    const length = datagram.readUInt32LE(at);
    const attrs = new Map<number, Buffer>();
    for (let a = at + 24; a < at + length;) {
      const alen = datagram.readUInt16LE(a);
      attrs.set(datagram.readUInt16LE(a + 2), datagram.subarray(a + 4, a + alen));
      a += (alen + 3) & ~3;
    }
    out.push({
      type: datagram.readUInt16LE(at + 4),
      flags: datagram.readUInt16LE(at + 6),
      seq: datagram.readUInt32LE(at + 8),
      family: datagram[at + 16],
      prefixlen: datagram[at + 17],
      ifaFlags: datagram[at + 18],
      index: datagram.readUInt32LE(at + 20),
      attrs,
    });
    at += (length + 3) & ~3;
  }
  return out;
}

function ack(seq: number, errno: number): Buffer {
  const b = Buffer.alloc(36);
  b.writeUInt32LE(36, 0);
  b.writeUInt16LE(2, 4); // NLMSG_ERROR
  b.writeUInt32LE(seq, 8);
  b.writeInt32LE(-errno, 16);
  return b;
}

/** A kernel holding a set of "ip@index" addresses; every request is acknowledged, one datagram each. */
class FakeKernel implements NetlinkChannel {
  readonly held = new Set<string>();
  readonly datagrams: Request[][] = [];
  readonly refused = new Set<string>();
  readonly log: string[] = [];
  private queued: Array<Buffer | number> = [];
  /** Acknowledgements to drop (the receive buffer overflowing), and busy answers to give before accepting. */
  dropAcks = 0;
  busy = 0;
  /** Fake time per request handled. */
  msPerRequest = 0;
  clock = 0;

  send(datagram: Buffer): number {
    if (this.busy > 0) {
      this.busy--;
      return EAGAIN;
    }
    const requests = decode(datagram);
    this.datagrams.push(requests);
    this.log.push(`send ${requests.length}`);
    this.clock += this.msPerRequest * requests.length;
    for (const r of requests) {
      const ip = bytesToIp(r.attrs.get(2) ?? Buffer.alloc(4));
      const key = `${ip}@${r.index}`;
      let errno = 0;
      if (this.refused.has(ip)) errno = EPERM;
      else if (r.type === RTM_NEWADDR) {
        if (this.held.has(key)) errno = EEXIST;
        else this.held.add(key);
      } else if (!this.held.delete(key)) errno = EADDRNOTAVAIL;
      if (this.dropAcks > 0) {
        this.dropAcks--;
        if (!this.queued.includes(ENOBUFS)) this.queued.unshift(ENOBUFS);
        continue;
      }
      this.queued.push(ack(r.seq, errno));
    }
    return 0;
  }

  receive(): Buffer | number | undefined {
    return this.queued.shift();
  }

  close(): void {}
}

const v4 = (i: number): AddressRequest => ({ ip: `198.18.${64 + (i >> 8)}.${i & 255}`, ifindex: 2 });
const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test("an IPv4 add: RTM_NEWADDR, create + exclusive + ack, /32 with IFA_LOCAL, IFA_ADDRESS and IFA_PROTO", () => {
  const [r] = decode(encodeAddressRequest("add", { ip: "198.51.100.7", ifindex: 5 }, 42, PROTO));
  assert.equal(r.type, RTM_NEWADDR);
  assert.equal(r.flags, 0x1 | 0x4 | 0x200 | 0x400);
  assert.equal(r.seq, 42);
  assert.deepEqual([r.family, r.prefixlen, r.index, r.ifaFlags], [2, 32, 5, 0]);
  assert.equal(bytesToIp(r.attrs.get(2) ?? Buffer.alloc(0)), "198.51.100.7");
  assert.equal(bytesToIp(r.attrs.get(1) ?? Buffer.alloc(0)), "198.51.100.7");
  assert.deepEqual([...(r.attrs.get(11) ?? [])], [PROTO]);
  assert.equal(r.attrs.has(8), false, "no IFA_FLAGS for IPv4");
});

test("an IPv6 add carries IFA_F_NODAD and IFA_F_NOPREFIXROUTE; a removal is RTM_DELADDR with ack only and no proto", () => {
  const [add] = decode(encodeAddressRequest("add", { ip: "2001:db8::5", ifindex: 3 }, 1, PROTO));
  // The 8-bit ifaddrmsg field holds the low byte; IFA_FLAGS carries all 32 bits (NOPREFIXROUTE is 0x200).
  assert.deepEqual([add.family, add.prefixlen, add.ifaFlags], [10, 128, 0x02]);
  assert.equal(add.attrs.get(8)?.readUInt32LE(0), 0x02 | 0x200);
  assert.equal(bytesToIp(add.attrs.get(2) ?? Buffer.alloc(0)), "2001:db8::5");
  const [del] = decode(encodeAddressRequest("remove", { ip: "2001:db8::5", ifindex: 3 }, 2, PROTO));
  assert.equal(del.type, RTM_DELADDR);
  assert.equal(del.flags, 0x1 | 0x4);
  assert.equal(del.attrs.has(11), false);
  assert.throws(() => encodeAddressRequest("add", { ip: "not-an-ip", ifindex: 3 }, 3, PROTO), /not an IP/);
});

test("requests of both families share one datagram, each message where the last one ended", () => {
  const kernel = new FakeKernel();
  const batcher = new AddressBatcher(kernel, { proto: PROTO });
  return batcher.run("add", [v4(1), { ip: "2001:db8::1:2", ifindex: 3 }, v4(2)]).then((outcomes) => {
    assert.ok(outcomes.every((o) => o.error === undefined));
    assert.deepEqual(
      kernel.datagrams[0].map((r) => [r.family, r.prefixlen, r.index, r.ifaFlags]),
      [
        [2, 32, 2, 0],
        [10, 128, 3, 2],
        [2, 32, 2, 0],
      ],
    );
    assert.deepEqual([...kernel.held].sort(), ["198.18.64.1@2", "198.18.64.2@2", "2001:db8::1:2@3"]);
  });
});

test("parseAcks reads every acknowledgement of a datagram and skips other messages", () => {
  const other = Buffer.alloc(20);
  other.writeUInt32LE(20, 0);
  other.writeUInt16LE(RTM_NEWADDR, 4);
  assert.deepEqual(parseAcks(Buffer.concat([ack(7, 0), other, ack(9, EEXIST)])), [
    { seq: 7, errno: 0 },
    { seq: 9, errno: EEXIST },
  ]);
  assert.deepEqual(parseAcks(Buffer.alloc(3)), []);
});

test("nextBatchSize: about the target time per batch, at most doubling, between 1 and MAX_BATCH", () => {
  const table: Array<[number, number, number, number]> = [
    // last size, last ms, target ms, expected
    [32, 0.1, 10, 64], // fast: doubles, no more
    [256, 1, 10, MAX_BATCH], // capped
    [100, 20, 10, 50], // 0.2 ms each: 50 fit in 10 ms
    [10, 100, 10, 1], // 10 ms each: one at a time
    [1, 0, 10, 2],
    [0, 0, 10, 2],
  ];
  for (const [size, ms, target, expected] of table)
    assert.equal(nextBatchSize(size, ms, target), expected, `${size} took ${ms} ms`);
});

test("a run goes out in growing batches, each confirmed before the next is sent; EEXIST counts as done", async () => {
  const kernel = new FakeKernel();
  kernel.held.add(`${v4(3).ip}@2`);
  kernel.refused.add(v4(5).ip);
  const batcher = new AddressBatcher(kernel, { proto: PROTO, now: () => kernel.clock });
  const placements = Array.from({ length: 600 }, (_, i) => v4(i + 1));
  const outcomes = await batcher.run("add", placements, (batch) =>
    kernel.log.push(`confirmed ${batch.length}`),
  );
  const sizes = kernel.datagrams.map((d) => d.length);
  assert.equal(sizes[0], FIRST_BATCH);
  assert.ok(sizes.every((n) => n <= MAX_BATCH));
  assert.equal(
    sizes.reduce((a, b) => a + b, 0),
    600,
  );
  assert.ok(sizes.length >= 3, `several datagrams: ${sizes.join(",")}`);
  // Each batch is handed over before the next datagram goes out: its announcements do not wait.
  assert.deepEqual(
    kernel.log,
    sizes.flatMap((n) => [`send ${n}`, `confirmed ${n}`]),
  );
  assert.deepEqual(
    outcomes.map((o) => o.placement),
    placements,
  );
  assert.deepEqual(
    outcomes.filter((o) => o.error !== undefined),
    [{ placement: v4(5), error: "EPERM" }],
  );
  assert.equal(kernel.held.size, 599);
  const seqs = kernel.datagrams.flat().map((r) => r.seq);
  assert.equal(new Set(seqs).size, seqs.length, "a sequence number per request");
});

test("batches shrink when the kernel is slow (main-thread time per batch stays near the target)", async () => {
  const kernel = new FakeKernel();
  kernel.msPerRequest = 1; // IPv6 on a crowded interface: ~1 ms per add
  const batcher = new AddressBatcher(kernel, { proto: PROTO, now: () => kernel.clock, targetMs: 10 });
  await batcher.run(
    "add",
    Array.from({ length: 100 }, (_, i) => v4(i + 1)),
  );
  const sizes = kernel.datagrams.map((d) => d.length);
  assert.equal(sizes[0], FIRST_BATCH);
  assert.ok(
    sizes.slice(1, -1).every((n) => n === 10),
    `then 10 per batch (the rest last): ${sizes.join(",")}`,
  );
});

test("a batch goes out as datagrams of about datagramMs each, with no loop turn between them", async () => {
  // ~1 ms per request in the kernel (IPv6 adds on an interface holding 10,000 addresses). On a kernel without
  // preemption a datagram holds its core to the end; between two the gossip thread may run.
  const kernel = new FakeKernel();
  kernel.msPerRequest = 1;
  let turns = 0;
  const batcher = new AddressBatcher(kernel, {
    proto: PROTO,
    now: () => kernel.clock,
    targetMs: 40,
    datagramMs: 10,
    yieldTurn: () => {
      turns++;
      return new Promise((resolve) => setImmediate(resolve));
    },
  });
  const batches: number[] = [];
  const outcomes = await batcher.run(
    "add",
    Array.from({ length: 200 }, (_, i) => v4(i + 1)),
    (done) => batches.push(done.length),
  );
  assert.equal(outcomes.length, 200);
  assert.ok(outcomes.every((o) => o.error === undefined));
  assert.equal(kernel.held.size, 200);
  assert.equal(batches[0], FIRST_BATCH, "the first batch, cost unknown, is one datagram");
  assert.ok(
    batches.slice(1, -1).every((n) => n === 40),
    `then batches of 40: ${batches.join(",")}`,
  );
  const sizes = kernel.datagrams.map((d) => d.length);
  assert.equal(sizes[0], FIRST_BATCH);
  assert.ok(
    sizes.slice(1).every((n) => n <= 10),
    `then datagrams of at most 10: ${sizes.join(",")}`,
  );
  assert.equal(turns, batches.length - 1, "a loop turn between batches only");
});

test("one slow batch (the thread preempted) does not shrink the next: the cheapest recent cost sizes it", async () => {
  const kernel = new FakeKernel();
  kernel.msPerRequest = 0.1; // 100 fit in the 10 ms target
  let preemptNext = false;
  const send = kernel.send.bind(kernel);
  kernel.send = (datagram: Buffer): number => {
    const errno = send(datagram);
    if (preemptNext) kernel.clock += 50; // the thread lost the CPU for 50 ms inside sendmsg
    preemptNext = false;
    return errno;
  };
  const batcher = new AddressBatcher(kernel, { proto: PROTO, now: () => kernel.clock, targetMs: 10 });
  let batches = 0;
  await batcher.run(
    "add",
    Array.from({ length: 400 }, (_, i) => v4(i + 1)),
    () => {
      batches++;
      preemptNext = batches === 2; // the third batch is preempted
    },
  );
  const sizes = kernel.datagrams.map((d) => d.length);
  assert.deepEqual(sizes.slice(0, 3), [FIRST_BATCH, 2 * FIRST_BATCH, 100], sizes.join(","));
  assert.equal(sizes[3], 100, `the batch after the preempted one keeps its size: ${sizes.join(",")}`);
});

test("removals: an address already gone counts as removed; runs keep their order", async () => {
  const kernel = new FakeKernel();
  const batcher = new AddressBatcher(kernel, { proto: PROTO });
  const a = v4(1);
  const adding = batcher.run("add", [a]);
  const removing = batcher.run("remove", [a, v4(2)]);
  assert.deepEqual(await adding, [{ placement: a }]);
  assert.deepEqual(await removing, [{ placement: a }, { placement: v4(2) }]);
  assert.equal(kernel.held.size, 0, "the add ran first, then the removal");
});

test("lost acknowledgements fail those requests (ENOBUFS) without hanging; a busy socket is retried", async () => {
  const kernel = new FakeKernel();
  kernel.dropAcks = 2;
  const batcher = new AddressBatcher(kernel, { proto: PROTO, yieldTurn: immediate });
  const outcomes = await batcher.run("add", [v4(1), v4(2), v4(3)]);
  assert.deepEqual(
    outcomes.map((o) => o.error),
    ["ENOBUFS", "ENOBUFS", undefined],
  );
  kernel.busy = 2;
  const retried = await batcher.run("add", [v4(4)]);
  assert.deepEqual(retried, [{ placement: v4(4) }]);
  kernel.busy = 1000;
  const refused = await batcher.run("add", [v4(5)]);
  assert.deepEqual(refused, [{ placement: v4(5), error: "EAGAIN" }]);
});

test("VipAddresses over a channel: onAdded per confirmed address, failures with their errno", async () => {
  const kernel = new FakeKernel();
  kernel.refused.add(v4(2).ip);
  const addresses = new VipAddresses(undefined as never, { channel: kernel });
  const added: string[] = [];
  const failures = await addresses.add([v4(1), v4(2), v4(3)], (p) => added.push(p.ip));
  assert.deepEqual(added, [v4(1).ip, v4(3).ip]);
  assert.deepEqual(failures, [{ ...v4(2), error: "EPERM" }]);
  assert.deepEqual(await addresses.remove([v4(1), v4(3)]), []);
  assert.equal(kernel.held.size, 0);
});

test("threadCpuMs (the batches' clock) counts this thread's work, not time spent waiting", async () => {
  const c = libc();
  const start = c.threadCpuMs();
  await new Promise((resolve) => setTimeout(resolve, 200));
  const afterWait = c.threadCpuMs();
  assert.ok(afterWait - start < 100, `waiting 200 ms cost ${afterWait - start} ms of CPU`);
  // Work until 30 ms of CPU are counted (on a busy host that takes longer than 30 ms of wall time, never less).
  const wallStart = performance.now();
  let afterWork = afterWait;
  while (afterWork - afterWait < 30 && performance.now() - wallStart < 10_000) afterWork = c.threadCpuMs();
  const wall = performance.now() - wallStart;
  assert.ok(afterWork - afterWait >= 30, `10 s of work counted ${afterWork - afterWait} ms`);
  assert.ok(
    afterWork - afterWait <= wall + 1,
    `${afterWork - afterWait} ms of CPU in ${wall} ms of wall time`,
  );
});
