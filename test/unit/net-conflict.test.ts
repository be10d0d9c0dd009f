// Address conflict detection: the RFC 5227 probe frame, what an ARP frame claims, who a claimant is, the
// MACs members gossip, and the monitor's probe and watch timing on a fake clock and fake sockets.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatDiagnostic } from "../../lib/config/diagnostics";
import { parseSettings } from "../../lib/config/settings";
import { decodeMetadata, encodeMetadata, type MemberMetadata } from "../../lib/gossip/metadata";
import { FakeClock } from "./fake-clock";
import { arpClaim, arpProbeFrame, claimOrigin, conflictReason } from "../../lib/net/arp-conflict";
import {
  ARP_REPLY,
  ARP_REQUEST,
  buildArpFrame,
  gratuitousArpFrames,
  parseArpFrame,
} from "../../lib/net/arp-frame";
import { PACKET_OUTGOING, type FrameSource, type ReceivedFrame } from "../../lib/net/arp-listener";
import { ConflictMonitor, type ObservedClaim } from "../../lib/net/conflict-monitor";
import type { FrameSink } from "../../lib/net/packet-socket";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");
const OURS = "02:00:00:00:01:01";
const FOREIGN = "02:00:00:00:02:00";
const VIP = "198.51.100.60";

test("ARP probe: broadcast request, sender IP 0.0.0.0, target MAC zero, target IP the VIP", () => {
  const frame = arpProbeFrame(VIP, OURS);
  assert.deepEqual(
    frame,
    hex(
      `ffffffffffff 020000000101 0806 0001 0800 06 04 0001 020000000101 00000000 000000000000 c633643c ${"00".repeat(18)}`,
    ),
  );
});

test("what an ARP frame claims", () => {
  const base = {
    destination: "ff:ff:ff:ff:ff:ff",
    source: FOREIGN,
    senderMac: FOREIGN,
    targetMac: "00:00:00:00:00:00",
  };
  const cases: Array<
    [string, Parameters<typeof buildArpFrame>[0], boolean, { ip: string; mac: string } | undefined]
  > = [
    [
      "reply to our probe",
      { ...base, operation: ARP_REPLY, senderIp: VIP, targetIp: "0.0.0.0" },
      true,
      { ip: VIP, mac: FOREIGN },
    ],
    [
      "gratuitous request",
      { ...base, operation: ARP_REQUEST, senderIp: VIP, targetIp: VIP },
      false,
      { ip: VIP, mac: FOREIGN },
    ],
    [
      "ordinary request: claims its sender IP",
      { ...base, operation: ARP_REQUEST, senderIp: "198.51.100.200", targetIp: VIP },
      false,
      { ip: "198.51.100.200", mac: FOREIGN },
    ],
    [
      "another host's probe while we probe",
      { ...base, operation: ARP_REQUEST, senderIp: "0.0.0.0", targetIp: VIP },
      true,
      { ip: VIP, mac: FOREIGN },
    ],
    [
      "another host's probe while we hold it",
      { ...base, operation: ARP_REQUEST, senderIp: "0.0.0.0", targetIp: VIP },
      false,
      undefined,
    ],
  ];
  for (const [name, fields, probing, want] of cases) {
    const parsed = parseArpFrame(buildArpFrame(fields));
    assert.ok(parsed, name);
    assert.deepEqual(arpClaim(parsed, { probing }), want, name);
  }
});

test("who a claimant is: this node, a member, or a foreign device", () => {
  const local = new Set([OURS, "02:00:00:00:11:01"]);
  const members = new Map([["02:00:00:00:01:02", "node2"]]);
  assert.deepEqual(claimOrigin("02:00:00:00:11:01", local, members), { kind: "self" });
  assert.deepEqual(claimOrigin("02:00:00:00:01:02", local, members), { kind: "member", member: "node2" });
  assert.deepEqual(claimOrigin("02:00:00:00:01:02".toUpperCase(), local, members), {
    kind: "member",
    member: "node2",
  });
  assert.deepEqual(claimOrigin(FOREIGN, local, members), { kind: "foreign" });
  assert.equal(
    conflictReason(VIP, FOREIGN),
    `address conflict: ${VIP} is held by ${FOREIGN} (not a cluster member)`,
  );
});

test("members gossip their MACs and recent releases, with or without the other optional fields", () => {
  const base: MemberMetadata = {
    labels: { zone: "a" },
    manifestDigest: "d",
    eligibility: { eligible: [VIP], ineligible: [] },
  };
  for (const meta of [
    { ...base, macs: [OURS] },
    { ...base, owned: [VIP], macs: [OURS, "02:00:00:00:11:01"] },
    { ...base, owned: [VIP] },
    { ...base, released: [VIP] },
    { ...base, owned: [VIP], macs: [OURS], released: ["198.51.100.61"] },
    base,
  ]) {
    assert.deepEqual(decodeMetadata(encodeMetadata(meta)), meta);
  }
});

function fakes(): {
  source: FrameSource & { queue: ReceivedFrame[] };
  sent: Array<[number, Buffer]>;
  sink: FrameSink;
} {
  const queue: ReceivedFrame[] = [];
  const sent: Array<[number, Buffer]> = [];
  return {
    source: { queue, receive: (max) => queue.splice(0, max), close: () => {} },
    sent,
    sink: { send: (ifindex, frame) => (sent.push([ifindex, frame]), true), close: () => {} },
  };
}

const received = (bytes: Buffer, pkttype = 1): ReceivedFrame => ({ ifindex: 2, pkttype, bytes });
/** The end of the turn, when the probes begun in it send their first frames. */
const launched = (): Promise<void> => Promise.resolve();

const itf = { name: "eth0", index: 2, mac: OURS };

/** A monitor on a fake clock over `source` and `sink` (the fakes' by default). */
function monitorOn(
  options: { probeMs: number; pollMs: number },
  source: FrameSource,
  sink: FrameSink,
): { monitor: ConflictMonitor; clock: FakeClock } {
  const clock = new FakeClock();
  return {
    monitor: new ConflictMonitor(
      () => source,
      () => sink,
      options,
      clock,
    ),
    clock,
  };
}

test("a probe sends twice and resolves after probeMs with the claims heard meanwhile", async () => {
  const { source, sink, sent } = fakes();
  const { monitor, clock } = monitorOn({ probeMs: 150, pollMs: 50 }, source, sink);
  let result: ObservedClaim[] | undefined;
  void monitor.probe(VIP, [itf]).then((claims) => (result = claims));
  await launched(); // the frames leave at the end of the turn
  assert.deepEqual(sent, [[2, arpProbeFrame(VIP, OURS)]]);
  // Our own probe as the socket sees it (outgoing) is not a claim; a foreign reply is.
  source.queue.push(received(arpProbeFrame(VIP, OURS), PACKET_OUTGOING));
  clock.advance(75);
  assert.equal(sent.length, 2, "second probe half-way");
  source.queue.push(received(gratuitousArpFrames(VIP, FOREIGN)[1], 0));
  clock.advance(75);
  await Promise.resolve();
  assert.deepEqual(result, [{ ip: VIP, mac: FOREIGN, ifindex: 2 }]);
  monitor.close();
});

test("probes begun in one turn send their first frames at once, then share their second send (many frames per call), their timers and one read for their verdicts", async () => {
  const { source } = fakes();
  const first: number[] = [];
  const calls: number[][] = [];
  const sink: FrameSink = {
    send: (ifindex) => (first.push(ifindex), true),
    sendMany: (frames) => (calls.push(frames.map((f) => f.ifindex)), frames.length),
    close: () => {},
  };
  let reads = 0;
  const counted: FrameSource = { ...source, receive: (max) => (reads++, source.receive(max)) };
  const { monitor, clock } = monitorOn({ probeMs: 100, pollMs: 0 }, counted, sink);
  const ips = ["198.51.100.71", "198.51.100.72", "198.51.100.73"];
  const results = new Map<string, ObservedClaim[]>();
  for (const ip of ips) void monitor.probe(ip, [itf]).then((claims) => results.set(ip, claims));
  assert.deepEqual(first, [2, 2, 2], "each probe's first frame leaves at once");
  // The turn runs on after the probes (a reload's election): their window counts from their frames.
  clock.advance(30);
  await launched();
  assert.deepEqual(calls, []);
  source.queue.push(received(gratuitousArpFrames(ips[1] as string, FOREIGN)[1], 0));
  clock.advance(20);
  assert.deepEqual(calls, [[2, 2, 2]], "the second frames half-way, together");
  // A probe begun later forms a batch of its own, with its own window.
  void monitor.probe("198.51.100.74", [itf]).then((claims) => results.set("198.51.100.74", claims));
  await launched();
  assert.deepEqual(first, [2, 2, 2, 2]);
  reads = 0;
  clock.advance(50);
  await launched();
  // One drain for the three verdicts: the queued frame, then the empty read that ends it (one per verdict
  // would be four or more).
  assert.equal(reads, 2, "one read for the batch's three verdicts");
  assert.deepEqual([...results.keys()], ips, "verdicts in the order the probes began");
  assert.deepEqual(results.get(ips[1] as string), [{ ip: ips[1], mac: FOREIGN, ifindex: 2 }]);
  assert.deepEqual(results.get(ips[0] as string), []);
  clock.advance(50);
  await launched();
  assert.deepEqual(results.get("198.51.100.74"), []);
  monitor.close();
});

test("a probe whose window ran out during its turn ends at the turn's end, second frame first; others wait for their timers", async () => {
  const { source, sink, sent } = fakes();
  const { monitor, clock } = monitorOn({ probeMs: 100, pollMs: 0 }, source, sink);
  const results = new Map<string, ObservedClaim[]>();
  const late = "198.51.100.81";
  void monitor.probe(late, [itf]).then((claims) => results.set(late, claims));
  // A long turn (a 10,000-service reload's election) runs on past the window; a foreign reply came meanwhile.
  source.queue.push(received(gratuitousArpFrames(late, FOREIGN)[1], 0));
  clock.time += 300;
  await launched();
  assert.equal(sent.length, 2, "the second frame goes out before the verdict");
  await Promise.resolve();
  assert.deepEqual(results.get(late), [{ ip: late, mac: FOREIGN, ifindex: 2 }], "verdict in this turn");
  const frames = sent.length;
  clock.advance(0);
  assert.equal(sent.length, frames, "no timers of its own: nothing more is sent");
  // A probe launched inside its window keeps it: giving its verdict early would cut its listening short.
  const fresh = "198.51.100.82";
  void monitor.probe(fresh, [itf]).then((claims) => results.set(fresh, claims));
  await launched();
  clock.advance(60);
  await Promise.resolve();
  assert.equal(results.has(fresh), false, "inside its window: no verdict");
  clock.advance(40);
  await Promise.resolve();
  assert.deepEqual(results.get(fresh), []);
  monitor.close();
});

test("a send that fails ends its probes with the error; a full queue only drops frames", async () => {
  const { source } = fakes();
  let mode: "full" | "fail" = "full";
  const failure = new Error("sendto(AF_PACKET, ifindex 2) failed: ENETDOWN");
  const sink: FrameSink = {
    send: () => {
      if (mode === "fail") throw failure;
      return false;
    },
    sendMany: () => {
      if (mode === "fail") throw failure;
      return 0;
    },
    close: () => {},
  };
  const { monitor, clock } = monitorOn({ probeMs: 100, pollMs: 0 }, source, sink);
  let full: ObservedClaim[] | undefined;
  void monitor.probe("198.51.100.71", [itf]).then((claims) => (full = claims));
  await launched();
  clock.advance(100);
  await launched();
  assert.deepEqual(full, [], "a full queue is not an error: the probe still ends");
  mode = "fail";
  const failing = ["198.51.100.72", "198.51.100.73"].map((ip) => monitor.probe(ip, [itf]));
  for (const p of failing) await assert.rejects(p, /ENETDOWN/);
  // A batch's second send failing ends every probe of it.
  mode = "full";
  const batch = ["198.51.100.75", "198.51.100.76"].map((ip) => monitor.probe(ip, [itf]));
  await launched();
  mode = "fail";
  clock.advance(50);
  for (const p of batch) await assert.rejects(p, /ENETDOWN/);
  // Ended: the same IPs can be probed again.
  mode = "full";
  const again = monitor.probe("198.51.100.72", [itf]);
  await launched();
  clock.advance(100);
  assert.deepEqual(await again, []);
  monitor.close();
});

test("a probe nobody answers resolves empty; watched IPs report claims as they arrive", async () => {
  const { source, sink } = fakes();
  const { monitor, clock } = monitorOn({ probeMs: 100, pollMs: 50 }, source, sink);
  let result: ObservedClaim[] | undefined;
  void monitor.probe(VIP, [itf]).then((claims) => (result = claims));
  await launched(); // the frames leave at the end of the turn
  clock.advance(100);
  await Promise.resolve();
  assert.deepEqual(result, []);

  const heard: ObservedClaim[] = [];
  monitor.onClaim((c) => heard.push(c));
  monitor.watch([VIP]);
  source.queue.push(received(gratuitousArpFrames("198.51.100.61", FOREIGN)[0]));
  source.queue.push(received(gratuitousArpFrames(VIP, FOREIGN)[0]));
  clock.advance(50);
  assert.deepEqual(heard, [{ ip: VIP, mac: FOREIGN, ifindex: 2 }], "only the watched IP");
  monitor.watch([]);
  source.queue.push(received(gratuitousArpFrames(VIP, FOREIGN)[0]));
  clock.advance(200);
  assert.equal(heard.length, 1, "no more polling once nothing is watched");
  monitor.close();
});

test("a probed IP counts another prober's probe and any sender's claim; frames about other IPs and non-ARP frames are dropped", async () => {
  const { source, sink } = fakes();
  const { monitor, clock } = monitorOn({ probeMs: 100, pollMs: 50 }, source, sink);
  let result: ObservedClaim[] | undefined;
  void monitor.probe(VIP, [itf]).then((claims) => (result = claims));
  await launched(); // the frames leave at the end of the turn
  const notArp = Buffer.from(arpProbeFrame(VIP, FOREIGN));
  notArp.writeUInt16BE(0x0800, 12);
  source.queue.push(
    received(arpProbeFrame(VIP, FOREIGN)), // another prober of the same IP (sender 0.0.0.0)
    received(arpProbeFrame("198.51.100.61", FOREIGN)), // a probe of another IP
    received(gratuitousArpFrames("198.51.100.62", FOREIGN)[1]), // a claim on another IP
    received(notArp),
    received(gratuitousArpFrames(VIP, "02:00:00:00:03:00")[1]),
  );
  clock.advance(100);
  await Promise.resolve();
  assert.deepEqual(result, [
    { ip: VIP, mac: FOREIGN, ifindex: 2 },
    { ip: VIP, mac: "02:00:00:00:03:00", ifindex: 2 },
  ]);
  monitor.close();
});

test("frames come in batches whose memory the next read reuses: each batch is read before the next, until none is left", () => {
  const { sink } = fakes();
  const pending = [
    gratuitousArpFrames("198.51.100.70", FOREIGN)[0],
    gratuitousArpFrames(VIP, FOREIGN)[0],
    gratuitousArpFrames("198.51.100.71", FOREIGN)[0],
    gratuitousArpFrames(VIP, "02:00:00:00:03:00")[0],
    gratuitousArpFrames(VIP, "02:00:00:00:04:00")[0],
  ];
  // Like ArpListener: at most 2 frames a call, views of one buffer that each call overwrites.
  const shared = Buffer.alloc(2 * 60);
  let calls = 0;
  const source: FrameSource = {
    receive: (max) => {
      calls++;
      const batch = pending.splice(0, Math.min(2, max));
      return batch.map((frame, i) => {
        frame.copy(shared, i * 60);
        return received(shared.subarray(i * 60, i * 60 + 60));
      });
    },
    close: () => {},
  };
  const { monitor } = monitorOn({ probeMs: 100, pollMs: 0 }, source, sink);
  const heard: ObservedClaim[] = [];
  monitor.onClaim((c) => heard.push(c));
  monitor.watch([VIP]);
  monitor.readPending();
  assert.deepEqual(
    heard.map((c) => c.mac),
    [FOREIGN, "02:00:00:00:03:00", "02:00:00:00:04:00"],
  );
  assert.equal(calls, 4, "three batches, then an empty read");
  monitor.close();
});

test("pollMs 0: no timer of its own; the owner's readPending() reads, only while something is probed or watched", async () => {
  const { source, sink } = fakes();
  const { monitor, clock } = monitorOn({ probeMs: 100, pollMs: 0 }, source, sink);
  const heard: ObservedClaim[] = [];
  monitor.onClaim((c) => heard.push(c));
  monitor.watch([VIP]);
  source.queue.push(received(gratuitousArpFrames(VIP, FOREIGN)[0]));
  clock.advance(1_000);
  assert.deepEqual(heard, [], "nothing read without the owner");
  assert.equal(source.queue.length, 1);
  monitor.readPending();
  assert.deepEqual(heard, [{ ip: VIP, mac: FOREIGN, ifindex: 2 }]);

  // A probe still ends with a read of its own, so its verdict does not wait for the owner.
  monitor.watch([]);
  let result: ObservedClaim[] | undefined;
  void monitor.probe(VIP, [itf]).then((claims) => (result = claims));
  await launched(); // the frames leave at the end of the turn
  source.queue.push(received(gratuitousArpFrames(VIP, FOREIGN)[1], 0));
  clock.advance(100);
  await Promise.resolve();
  assert.deepEqual(result, [{ ip: VIP, mac: FOREIGN, ifindex: 2 }]);
  source.queue.push(received(gratuitousArpFrames(VIP, FOREIGN)[0]));
  monitor.readPending();
  assert.equal(source.queue.length, 1, "nothing probed or watched: the owner's call reads nothing");
  monitor.close();
});

test("a probe that cannot open its socket rejects (the daemon then takes the IP unprobed)", async () => {
  const monitor = new ConflictMonitor(
    () => {
      throw new Error("socket(AF_PACKET, ARP) failed: EPERM");
    },
    () => fakes().sink,
    {},
    new FakeClock(),
  );
  await assert.rejects(monitor.probe(VIP, [itf]), /EPERM/);
});

test("probe settings: defaults, 0 turns the probe off, out-of-range values are errors", () => {
  const defaults = parseSettings("", "v.yaml", {}, "h").settings;
  assert.equal(defaults?.cluster.arpProbeMs, 100);
  assert.equal(defaults?.cluster.conflictReprobeMs, 10_000);
  const off = parseSettings("cluster:\n  arpProbeMs: 0\n  conflictReprobeMs: 2000\n", "v.yaml", {}, "h");
  assert.deepEqual([off.settings?.cluster.arpProbeMs, off.settings?.cluster.conflictReprobeMs], [0, 2000]);
  const bad = parseSettings("cluster:\n  arpProbeMs: 9000\n  conflictReprobeMs: 10\n", "v.yaml", {}, "h");
  assert.deepEqual(bad.diagnostics.map(formatDiagnostic), [
    "v.yaml:2:15: error: cluster.arpProbeMs: 9000 is out of range 0..5000",
    "v.yaml:3:22: error: cluster.conflictReprobeMs: 10 is out of range 500..3600000",
  ]);
});
