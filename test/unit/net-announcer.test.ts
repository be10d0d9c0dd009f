import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Announcer,
  REPEAT_HOLD_MAX_MS,
  type OutgoingPacket,
  type PacketTransport,
} from "../../lib/net/announcer";
import { icmpv6Checksum, parseNeighborAdvertisementFrame } from "../../lib/net/ndp-frame";
import { FakeClock } from "./fake-clock";

class RecordingTransport implements PacketTransport {
  sent: Array<OutgoingPacket & { at: number }> = [];
  full = false;
  constructor(private readonly clock: FakeClock) {}
  send(packet: OutgoingPacket): boolean {
    if (this.full) return false;
    this.sent.push({ ...packet, at: this.clock.now() });
    return true;
  }
}

/** The batch form the kernel transport has: takes up to `capacity` frames per call, then reports full. */
class BatchTransport implements PacketTransport {
  sent: Array<OutgoingPacket & { at: number }> = [];
  calls = 0;
  capacity = Infinity;
  failIp: string | undefined;
  constructor(private readonly clock: FakeClock) {}
  send(): boolean {
    throw new Error("the announcer must use sendMany when the transport has it");
  }
  sendMany(packets: readonly OutgoingPacket[]): number {
    this.calls++;
    let n = 0;
    for (const packet of packets) {
      if (n >= this.capacity) break;
      if (packet.ip === this.failIp) {
        if (n === 0) throw new Error("ENETDOWN");
        break;
      }
      this.sent.push({ ...packet, at: this.clock.now() });
      n++;
    }
    this.capacity -= n;
    return n;
  }
}

const eth0 = { name: "eth0", index: 2, mac: "02:00:00:00:01:01" };
const eth1 = { name: "eth1", index: 3, mac: "02:00:00:00:11:01" };

test("takeover burst: one round at once, then 4 more 1 s apart, request+reply per round", () => {
  const clock = new FakeClock();
  const transport = new RecordingTransport(clock);
  const announcer = new Announcer(transport, {}, clock);
  announcer.announce("198.51.100.50", [eth0]);
  assert.deepEqual(
    transport.sent.map((p) => [p.kind, p.at]),
    [
      ["arp-request", 0],
      ["arp-reply", 0],
    ],
  );
  clock.advance(10_000);
  assert.deepEqual(
    transport.sent.map((p) => p.at),
    [0, 0, 1000, 1000, 2000, 2000, 3000, 3000, 4000, 4000],
  );
  assert.equal(announcer.isAnnouncing("198.51.100.50"), true);
  assert.deepEqual(
    announcer.frameCounts().sort((a, b) => a.kind.localeCompare(b.kind)),
    [
      { ip: "198.51.100.50", interface: "eth0", kind: "arp-reply", count: 5 },
      { ip: "198.51.100.50", interface: "eth0", kind: "arp-request", count: 5 },
    ],
  );
});

test("IPv6 sends one NA per round per interface; spacing and rounds are configurable", () => {
  const clock = new FakeClock();
  const transport = new RecordingTransport(clock);
  const announcer = new Announcer(transport, { rounds: 3, spacingMs: 1100 }, clock);
  announcer.announce("2001:db8:100::50", [eth0, eth1]);
  clock.advance(10_000);
  assert.deepEqual(
    transport.sent.map((p) => [p.kind, p.ifname, p.at]),
    [0, 1100, 2200].flatMap((at) => [
      ["na", "eth0", at],
      ["na", "eth1", at],
    ]),
  );
  // Whole Ethernet frames: ICMPv6 type 136 after the 14-byte Ethernet and 40-byte IPv6 headers.
  assert.equal(transport.sent[0].bytes[54], 136);
});

test("NA frames: all-nodes MAC and IP, hop limit 255, source = link-local (else the VIP), valid checksum", () => {
  const clock = new FakeClock();
  const transport = new RecordingTransport(clock);
  const announcer = new Announcer(transport, { rounds: 1 }, clock);
  announcer.announce("2001:db8:100::50", [{ ...eth0, linkLocal: "fe80::1:1" }, eth1]);
  const [withLinkLocal, withoutLinkLocal] = transport.sent.map((p) =>
    parseNeighborAdvertisementFrame(p.bytes),
  );
  for (const [na, mac, source] of [
    [withLinkLocal, eth0.mac, "fe80::1:1"],
    [withoutLinkLocal, eth1.mac, "2001:db8:100::50"],
  ] as const) {
    assert.ok(na);
    assert.equal(na.destinationMac, "33:33:00:00:00:01");
    assert.equal(na.sourceMac, mac);
    assert.equal(na.destinationIp, "ff02::1");
    assert.equal(na.sourceIp, source);
    assert.equal(na.hopLimit, 255);
    assert.equal(na.target, "2001:db8:100::50");
    assert.equal(na.targetMac, mac);
    assert.deepEqual([na.router, na.solicited, na.override], [false, false, true]);
    assert.equal(icmpv6Checksum(na.sourceIp, na.destinationIp, na.icmp), 0, "checksum verifies");
  }
});

test("batch transport: frames go out in batches, urgent first; a full queue resumes where it stopped", () => {
  const clock = new FakeClock();
  const transport = new BatchTransport(clock);
  const announcer = new Announcer(transport, { maxFramesPerSecond: 0, rounds: 2, spacingMs: 1000 }, clock);
  const ips = Array.from({ length: 300 }, (_, i) => `2001:db8:100::${(i + 1).toString(16)}`);
  for (const ip of ips) announcer.announce(ip, [eth0]);
  assert.equal(transport.sent.length, 300);
  assert.ok(transport.calls <= 300, `${transport.calls} calls for 300 frames`);
  // Second rounds of all 300 are due at 1000; 100 go, then the kernel queue is full.
  transport.capacity = 100;
  clock.advance(1000);
  assert.equal(transport.sent.length, 400);
  transport.capacity = Infinity;
  clock.advance(10);
  assert.equal(transport.sent.length, 600);
  assert.deepEqual(
    transport.sent.slice(300).map((p) => p.ip),
    ips,
    "the retry resumed with the first frame not taken, none twice",
  );
  assert.equal(announcer.queuedFrames(), 0);
});

test("batch transport: a hard error drops that frame only; withdrawn VIPs in a batch are skipped", () => {
  const clock = new FakeClock();
  const transport = new BatchTransport(clock);
  const announcer = new Announcer(transport, { maxFramesPerSecond: 0, rounds: 1 }, clock);
  transport.capacity = 0;
  for (let i = 1; i <= 10; i++) announcer.announce(`198.51.100.${i}`, [eth0]);
  announcer.withdraw("198.51.100.3");
  transport.failIp = "198.51.100.5";
  transport.capacity = Infinity;
  clock.advance(10);
  assert.deepEqual(
    [...new Set(transport.sent.map((p) => p.ip))],
    [1, 2, 4, 6, 7, 8, 9, 10].map((i) => `198.51.100.${i}`),
  );
  assert.equal(transport.sent.length, 16);
  assert.equal(announcer.sendErrors, 2, "both frames of the failing VIP were counted as errors");
  assert.equal(announcer.queuedFrames(), 0);
});

test("a failover's first round goes ahead of periodic refreshes and repeat rounds of other VIPs", () => {
  const clock = new FakeClock();
  const transport = new RecordingTransport(clock);
  const announcer = new Announcer(
    transport,
    { maxFramesPerSecond: 1000, burstFrames: 10, rounds: 2, spacingMs: 1000, refreshIntervalMs: 5000 },
    clock,
  );
  const held = Array.from({ length: 200 }, (_, i) => `198.51.100.${i + 1}`);
  for (const ip of held) announcer.announce(ip, [eth0]);
  clock.advance(6000); // first rounds, repeats, and now the first refreshes (400 frames) are queued/going out
  const before = transport.sent.length;
  const failover = Array.from({ length: 20 }, (_, i) => `203.0.113.${i + 1}`);
  for (const ip of failover) announcer.announce(ip, [eth0]);
  clock.advance(200);
  const after = transport.sent.slice(before);
  const firstFailoverFrames = after.findIndex((p) => p.ip.startsWith("203.0.113."));
  assert.ok(
    firstFailoverFrames >= 0 && firstFailoverFrames <= 10,
    `failover frames began at ${firstFailoverFrames}`,
  );
  const failoverFrames = after.filter((p) => p.ip.startsWith("203.0.113."));
  assert.equal(failoverFrames.length, 40, "the whole first round within 200 ms at 1000 frames/s");
  const lastFailover = after.map((p) => p.ip.startsWith("203.0.113.")).lastIndexOf(true);
  assert.ok(
    after.slice(0, lastFailover).filter((p) => !p.ip.startsWith("203.0.113.")).length <= 10,
    "no more refresh frames in between than the pacing burst already had in flight",
  );
  announcer.stop();
});

test("a routine burst (every held VIP said again) queues even its first round behind takeovers' first rounds", () => {
  const clock = new FakeClock();
  const transport = new RecordingTransport(clock);
  const announcer = new Announcer(transport, { maxFramesPerSecond: 1000, burstFrames: 10, rounds: 2 }, clock);
  const held = Array.from({ length: 200 }, (_, i) => `198.51.100.${i + 1}`);
  for (const ip of held) announcer.announce(ip, [eth0], true);
  const takeover = Array.from({ length: 20 }, (_, i) => `203.0.113.${i + 1}`);
  for (const ip of takeover) announcer.announce(ip, [eth0]);
  clock.advance(100);
  const sent = transport.sent.map((p) => p.ip.startsWith("203.0.113."));
  const lastTakeover = sent.lastIndexOf(true);
  assert.equal(sent.filter(Boolean).length, 40, "the takeover's first round within 100 ms at 1000 frames/s");
  assert.ok(
    sent.slice(0, lastTakeover).filter((t) => !t).length <= 10,
    "only the pacing burst's routine frames went before it",
  );
  clock.advance(2000);
  const routineIps = new Set(transport.sent.filter((p) => p.ip.startsWith("198.51.100.")).map((p) => p.ip));
  assert.equal(routineIps.size, 200, "the routine burst still goes out in full");
  announcer.stop();
});

test("withdraw cancels pending rounds and frames still queued", () => {
  const clock = new FakeClock();
  const transport = new RecordingTransport(clock);
  const announcer = new Announcer(transport, { maxFramesPerSecond: 1000, burstFrames: 2 }, clock);
  announcer.announce("198.51.100.1", [eth0]);
  announcer.announce("198.51.100.2", [eth0]);
  assert.equal(transport.sent.length, 2, "burst of 2, the rest waits for pacing");
  announcer.withdraw("198.51.100.2");
  clock.advance(500);
  assert.ok(transport.sent.every((p) => p.ip === "198.51.100.1"));
  clock.advance(10_000);
  assert.equal(transport.sent.length, 10);
});

test("pacing: at most maxFramesPerSecond per interface after the initial burst, first rounds first", () => {
  const clock = new FakeClock();
  const transport = new RecordingTransport(clock);
  const announcer = new Announcer(transport, { maxFramesPerSecond: 100, burstFrames: 10, rounds: 2 }, clock);
  for (let i = 1; i <= 100; i++) announcer.announce(`198.51.100.${i}`, [eth0]);
  assert.equal(transport.sent.length, 10);
  clock.advance(1000);
  // 10 burst + 100/s for 1 s
  const inFirstSecond = transport.sent.filter((p) => p.at <= 1000).length;
  assert.ok(inFirstSecond >= 105 && inFirstSecond <= 111, `sent ${inFirstSecond}`);
  clock.advance(60_000);
  assert.equal(transport.sent.length, 400);
  // Every VIP's first round went out before any second round.
  const lastFirstRound = transport.sent.findIndex((p, i) =>
    transport.sent.slice(0, i).some((q) => q.ip === p.ip && q.kind === p.kind),
  );
  assert.equal(lastFirstRound, 200);
});

test("a full kernel queue retries without losing or double-counting frames; refresh is periodic when enabled", () => {
  const clock = new FakeClock();
  const transport = new RecordingTransport(clock);
  const announcer = new Announcer(transport, { rounds: 1, refreshIntervalMs: 30_000 }, clock);
  transport.full = true;
  announcer.announce("198.51.100.7", [eth0]);
  assert.equal(announcer.queuedFrames(), 2);
  clock.advance(5);
  transport.full = false;
  clock.advance(5);
  assert.equal(transport.sent.length, 2);
  clock.advance(60_000);
  assert.deepEqual(
    transport.sent.map((p) => p.at),
    [6, 6, 30_000, 30_000, 60_000, 60_000],
  );
  assert.equal(
    announcer.frameCounts().reduce((n, c) => n + c.count, 0),
    6,
  );
  announcer.stop();
  clock.advance(60_000);
  assert.equal(transport.sent.length, 6);
});

test("re-announcing thousands of VIPs while the transport is full keeps the queue bounded, sends each once", () => {
  const clock = new FakeClock();
  const transport = new RecordingTransport(clock);
  const announcer = new Announcer(transport, { rounds: 1 }, clock);
  const ips = Array.from({ length: 2000 }, (_, i) => `2001:db8:100::1:${(i + 1).toString(16)}`);
  transport.full = true;
  // Membership churn: every held VIP announced again, ten times over, while nothing can be sent.
  for (let round = 0; round < 10; round++) for (const ip of ips) announcer.announce(ip, [eth0]);
  assert.ok(
    announcer.queuedFrames() <= 4 * ips.length + 1024,
    `stale copies dropped: ${announcer.queuedFrames()} queued for ${ips.length} VIPs`,
  );
  transport.full = false;
  clock.advance(5_000);
  assert.equal(transport.sent.length, ips.length, "only the latest announcement of each VIP went out");
  assert.equal(new Set(transport.sent.map((p) => p.ip)).size, ips.length);
});

test("repeat rounds wait for the address run under way (first rounds never do), at most REPEAT_HOLD_MAX_MS", async () => {
  const clock = new FakeClock();
  const transport = new RecordingTransport(clock);
  let run: { promise: Promise<void>; end: () => void } | undefined;
  const startRun = (): void => {
    let end!: () => void;
    const promise = new Promise<void>((resolve) => (end = resolve));
    run = { promise, end };
  };
  const endRun = async (): Promise<void> => {
    const ending = run;
    run = undefined;
    ending?.end();
    await new Promise((resolve) => setImmediate(resolve)); // its settle callbacks
  };
  const announcer = new Announcer(transport, { rounds: 3, spacingMs: 1000 }, clock, {
    busyWork: () => run?.promise,
  });
  const at = (ip: string): number[] => transport.sent.filter((p) => p.ip === ip).map((p) => p.at);
  startRun();
  announcer.announce("2001:db8:100::1", [eth0]);
  clock.advance(500);
  announcer.announce("2001:db8:100::2", [eth0]);
  assert.deepEqual([at("2001:db8:100::1"), at("2001:db8:100::2")], [[0], [500]], "first rounds at once");
  clock.advance(2000);
  assert.deepEqual([at("2001:db8:100::1"), at("2001:db8:100::2")], [[0], [500]], "repeats held");
  await endRun();
  assert.deepEqual(
    [at("2001:db8:100::1"), at("2001:db8:100::2")],
    [
      [0, 2500],
      [500, 2500],
    ],
    "the held repeats go when the run ends",
  );
  clock.advance(1000);
  assert.deepEqual(
    [at("2001:db8:100::1"), at("2001:db8:100::2")],
    [
      [0, 2500, 3500],
      [500, 2500, 3500],
    ],
  );

  // A run that never ends holds a repeat for REPEAT_HOLD_MAX_MS at most; a withdrawn VIP's held round is dropped.
  startRun();
  announcer.announce("2001:db8:100::3", [eth0]);
  announcer.announce("2001:db8:100::4", [eth0]);
  clock.advance(1000);
  announcer.withdraw("2001:db8:100::4");
  clock.advance(REPEAT_HOLD_MAX_MS - 1);
  assert.deepEqual(at("2001:db8:100::3"), [3500]);
  clock.advance(1);
  assert.deepEqual(at("2001:db8:100::3"), [3500, 3500 + 1000 + REPEAT_HOLD_MAX_MS]);
  await endRun();
  assert.deepEqual(at("2001:db8:100::4"), [3500], "withdrawn while held: nothing more");
});
