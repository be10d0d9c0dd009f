import assert from "node:assert/strict";
import { test } from "node:test";
import { Announcer, type OutgoingPacket, type PacketTransport } from "../../lib/net/announcer";
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
  assert.equal(transport.sent[0].bytes[0], 136);
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
