// IPv6 address conflict detection: the DAD-style probe frame, what a Neighbor Advertisement claims, and the
// monitor probing and watching IPv6 VIPs through a (fake) NA source, like IPv4 through ARP.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock } from "./fake-clock";
import type { ClaimSource } from "../../lib/net/na-listener";
import { ConflictMonitor, type ObservedClaim } from "../../lib/net/conflict-monitor";
import { dadProbeFrame, naClaim, solicitedNodeAddress } from "../../lib/net/ndp-conflict";
import { buildNeighborAdvertisement, icmpv6Checksum } from "../../lib/net/ndp-frame";
import type { FrameSink } from "../../lib/net/packet-socket";
import { bytesToIp } from "../../lib/net/wire";

const OURS = "02:00:00:00:01:01";
const FOREIGN = "02:00:00:00:02:00";
const VIP6 = "2001:db8:100::60";

test("solicited-node group: ff02::1:ff + the low 24 bits", () => {
  assert.equal(solicitedNodeAddress("2001:db8:100::60"), "ff02::1:ff00:60");
  assert.equal(solicitedNodeAddress("2001:db8::1:abcd:ef12"), "ff02::1:ffcd:ef12");
});

test("DAD probe: to 33:33:ff.., from ::, hop limit 255, an NS for the VIP without options, valid checksum", () => {
  const f = dadProbeFrame(VIP6, OURS);
  assert.equal(f.length, 14 + 40 + 24);
  assert.equal(f.subarray(0, 6).toString("hex"), "3333ff000060");
  assert.equal(f.subarray(6, 12).toString("hex"), "020000000101");
  assert.equal(f.readUInt16BE(12), 0x86dd);
  const ip = f.subarray(14, 54);
  assert.equal(ip.readUInt8(0) >> 4, 6);
  assert.equal(ip.readUInt16BE(4), 24, "payload length");
  assert.equal(ip.readUInt8(6), 58, "next header ICMPv6");
  assert.equal(ip.readUInt8(7), 255, "hop limit");
  assert.ok(ip.subarray(8, 24).equals(Buffer.alloc(16)), "source ::");
  assert.equal(ip.subarray(24, 40).toString("hex"), "ff0200000000000000000001ff000060");
  const icmp = Buffer.from(f.subarray(54));
  assert.equal(icmp.readUInt8(0), 135, "Neighbor Solicitation");
  assert.equal(icmp.subarray(8, 24).toString("hex"), "20010db8010000000000000000000060");
  const checksum = icmp.readUInt16BE(2);
  icmp.writeUInt16BE(0, 2);
  assert.equal(checksum, icmpv6Checksum("::", "ff02::1:ff00:60", icmp));
});

test("DAD probe: for any VIP, its group and checksum agree with the text-based helpers", () => {
  for (const vip of [
    "2001:db8::1",
    "2001:db8:100::1:ffff",
    "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe",
    "2001:db8::abcd:ef12",
  ]) {
    const f = dadProbeFrame(vip, OURS);
    const group = solicitedNodeAddress(vip);
    assert.equal(bytesToIp(f.subarray(38, 54)), group, vip);
    const icmp = Buffer.from(f.subarray(54));
    const checksum = icmp.readUInt16BE(2);
    icmp.writeUInt16BE(0, 2);
    assert.equal(checksum, icmpv6Checksum("::", group, icmp), vip);
    assert.equal(bytesToIp(icmp.subarray(8, 24)), vip);
  }
});

test("what an NA claims: its target for the MAC in the target link-layer option; nothing without one", () => {
  const withMac = buildNeighborAdvertisement({
    router: false,
    solicited: false,
    override: true,
    target: VIP6,
    targetMac: FOREIGN,
  });
  assert.deepEqual(naClaim(withMac), { ip: VIP6, mac: FOREIGN });
  const bare = buildNeighborAdvertisement({ router: false, solicited: true, override: false, target: VIP6 });
  assert.equal(naClaim(bare), undefined);
  const ns = Buffer.from(withMac);
  ns.writeUInt8(135, 0);
  assert.equal(naClaim(ns), undefined, "not an NA");
  assert.equal(naClaim(withMac.subarray(0, 20)), undefined, "truncated");
});

function fakes(): {
  na: ClaimSource & { queue: ObservedClaim[] };
  sent: Array<[number, Buffer]>;
  sink: FrameSink;
} {
  const queue: ObservedClaim[] = [];
  const sent: Array<[number, Buffer]> = [];
  return {
    na: { queue, drain: (max) => queue.splice(0, max), close: () => {} },
    sent,
    sink: { send: (ifindex, frame) => (sent.push([ifindex, frame]), true), close: () => {} },
  };
}

/** The end of the turn, when the probes begun in it send their first frames. */
const launched = (): Promise<void> => Promise.resolve();

const itf = { name: "eth0", index: 2, mac: OURS };
const noArp = () => {
  throw new Error("no ARP socket should be opened for IPv6");
};

test("an IPv6 probe sends the DAD frame twice and resolves with the NAs heard meanwhile", async () => {
  const clock = new FakeClock();
  const { na, sink, sent } = fakes();
  const monitor = new ConflictMonitor(
    noArp,
    () => sink,
    { probeMs: 150, pollMs: 50 },
    clock,
    () => na,
  );
  let result: ObservedClaim[] | undefined;
  void monitor.probe(VIP6, [itf]).then((claims) => (result = claims));
  await launched(); // the frames leave at the end of the turn
  assert.deepEqual(sent, [[2, dadProbeFrame(VIP6, OURS)]]);
  clock.advance(75);
  assert.equal(sent.length, 2, "second probe half-way");
  na.queue.push({ ip: VIP6, mac: FOREIGN, ifindex: 0 });
  clock.advance(75);
  await Promise.resolve();
  assert.deepEqual(result, [{ ip: VIP6, mac: FOREIGN, ifindex: 0 }]);
  monitor.close();
});

test("held IPv6 VIPs are watched: an NA from anyone for them is reported, others are not", () => {
  const clock = new FakeClock();
  const { na, sink } = fakes();
  const monitor = new ConflictMonitor(
    noArp,
    () => sink,
    { probeMs: 100, pollMs: 50 },
    clock,
    () => na,
  );
  const heard: ObservedClaim[] = [];
  monitor.onClaim((c) => heard.push(c));
  monitor.watch([VIP6]);
  na.queue.push({ ip: "2001:db8:100::61", mac: FOREIGN, ifindex: 0 });
  na.queue.push({ ip: VIP6, mac: FOREIGN, ifindex: 0 });
  clock.advance(50);
  assert.deepEqual(heard, [{ ip: VIP6, mac: FOREIGN, ifindex: 0 }]);
  monitor.close();
});

test("without an NA source (older wiring) IPv6 VIPs are neither probed nor watched", async () => {
  const { sink, sent } = fakes();
  const monitor = new ConflictMonitor(noArp, () => sink, {}, new FakeClock());
  assert.deepEqual(await monitor.probe(VIP6, [itf]), []);
  monitor.watch([VIP6]);
  assert.equal(sent.length, 0);
  monitor.close();
});
