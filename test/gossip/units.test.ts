import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeMessage,
  decodePacket,
  encodeMessage,
  encodePacket,
  type Message,
} from "../../lib/gossip/codec";
import { refuteCountsAgainstUs } from "../../lib/gossip/awareness";
import { gossipProfile, LAN, retransmitLimit, suspicionScale, WAN } from "../../lib/gossip/config";
import { generateKey, Keyring, KeyringError, NO_KEY_MESSAGE, parseKeyring } from "../../lib/gossip/keyring";
import { decideAlive, decideDead, decideSuspect, type MemberRecord } from "../../lib/gossip/members";
import { inflateRawSync } from "node:zlib";
import { decodeMetadata, encodeMetadata, metadataDigest } from "../../lib/gossip/metadata";
import { BroadcastQueue } from "../../lib/gossip/queue";
import { ReplayGuard } from "../../lib/gossip/replay";
import { ringNeighbours } from "../../lib/gossip/ring";
import { Rng } from "../../lib/gossip/rng";
import { suspicionTimeout } from "../../lib/gossip/suspicion";
import { VirtualScheduler } from "../../lib/gossip/virtual-clock";

test("keyring: parse, generate, comments, errors", () => {
  const a = generateKey();
  const b = generateKey();
  assert.equal(Buffer.from(a, "base64").length, 32);
  assert.notEqual(a, b);
  const ring = parseKeyring(`# primary first\n${a}\n\n  ${b}  \n`);
  assert.deepEqual(ring.list(), [a, b]);
  assert.throws(() => parseKeyring(""), /no keys.*vipd keygen/);
  assert.throws(() => parseKeyring("not base64!"), /line 1: not base64/);
  assert.throws(() => parseKeyring(Buffer.alloc(16).toString("base64")), /16 bytes, want 32/);
  assert.match(NO_KEY_MESSAGE, /vipd keygen > \/etc\/vipd\/gossip\.key/);
  // The service runs as user vipd: a root-only 0600 key would be unreadable to it.
  assert.match(NO_KEY_MESSAGE, /chgrp vipd.*chmod 0640/);
});

test("keyring: seal/open binds the label; rotation add → use → remove", () => {
  const k1 = generateKey();
  const k2 = generateKey();
  const label = Buffer.from("vipd");
  const r1 = Keyring.fromBase64(k1);
  const sealed = r1.seal(Buffer.from("hello"), label);
  assert.equal(r1.open(sealed, label)?.toString(), "hello");
  assert.equal(r1.open(sealed, Buffer.from("other")), undefined, "other cluster label must not open");
  assert.equal(Keyring.fromBase64(k2).open(sealed, label), undefined, "wrong key must not open");
  const flipped = Buffer.from(sealed);
  flipped[flipped.length - 20] = (flipped[flipped.length - 20] as number) ^ 1;
  assert.equal(r1.open(flipped, label), undefined, "tampering detected");

  const r2 = Keyring.fromBase64(k1);
  r2.addKey(k2);
  assert.equal(r2.open(sealed, label)?.toString(), "hello");
  r2.useKey(k2);
  assert.deepEqual(r2.list(), [k2, k1]);
  assert.equal(
    r1.open(r2.seal(Buffer.from("x"), label), label),
    undefined,
    "old-only ring cannot read new primary",
  );
  assert.throws(() => r2.removeKey(k2), KeyringError);
  r2.removeKey(k1);
  assert.deepEqual(r2.list(), [k2]);
  assert.throws(() => r2.useKey(k1), /not installed/);
});

const samples: Message[] = [
  { type: "ping", seq: 7, target: "n1" },
  { type: "ping-req", seq: 4294967295, target: "n2", targetAddr: "[2001:db8::1]:7946" },
  { type: "ack", seq: 1 },
  { type: "nack", seq: 2 },
  { type: "heartbeat", incarnation: 9, stop: true },
  { type: "alive", name: "nöde", addr: "198.51.100.1:7946", incarnation: 3, metaDigest: "0011223344556677" },
  {
    type: "alive",
    name: "n",
    addr: "a:1",
    incarnation: 3,
    metaDigest: "0011223344556677",
    meta: Buffer.from([1, 2]),
  },
  { type: "suspect", name: "a", incarnation: 5, from: "b" },
  { type: "dead", name: "a", incarnation: 5, from: "a" },
  {
    type: "push-pull",
    requestId: 99,
    reply: true,
    join: false,
    part: 1,
    parts: 3,
    states: [{ name: "x", addr: "x:1", incarnation: 1, state: "left", metaDigest: "ffffffffffffffff" }],
  },
  { type: "meta-req", name: "x", digest: "0000000000000001", parts: [0, 5] },
  { type: "meta-chunk", name: "x", digest: "0000000000000001", part: 0, parts: 1, data: Buffer.from("abc") },
];

test("codec: every message round-trips, in a packet too", () => {
  for (const m of samples) assert.deepEqual(decodeMessage(encodeMessage(m)), m);
  const packet = encodePacket(
    { sender: "me", epoch: 1_700_000_000_123, seq: 42 },
    samples.map(encodeMessage),
  );
  const d = decodePacket(packet);
  assert.deepEqual(d.header, { sender: "me", epoch: 1_700_000_000_123, seq: 42 });
  assert.deepEqual(d.messages, samples);
  assert.throws(() => decodePacket(packet.subarray(0, packet.length - 1)), /truncated/);
  assert.throws(() => decodeMessage(Buffer.of(200)), /unknown message type/);
});

test("replay window: duplicates, too-old, reordering, new epoch, stale epoch", () => {
  const g = new ReplayGuard(64, 1000);
  assert.equal(g.check("a", 10, 100, 0), "ok");
  assert.equal(g.check("a", 10, 100, 0), "replay");
  assert.equal(g.check("a", 10, 98, 0), "ok", "reordered within window");
  assert.equal(g.check("a", 10, 98, 0), "replay");
  assert.equal(g.check("a", 10, 200, 0), "ok");
  assert.equal(g.check("a", 10, 136, 0), "replay", "older than the window");
  assert.equal(g.check("a", 10, 150, 0), "ok");
  assert.equal(g.check("a", 11, 0, 1), "ok", "restart: newer epoch");
  assert.equal(g.check("a", 10, 500, 2), "stale-epoch");
  assert.equal(g.check("a", 9, 1, 2000), "ok", "current epoch silent long enough: accept a backwards clock");
});

test("suspicion timeout follows Lifeguard's formula", () => {
  assert.equal(suspicionTimeout(0, 2, 100, 600), 600);
  assert.equal(suspicionTimeout(2, 2, 100, 600), 100);
  const one = suspicionTimeout(1, 2, 4000, 24000);
  assert.ok(Math.abs(one - 11381) < 2, `1 confirmation at N=10 memberlist: ~11.4 s, got ${one}`);
  assert.equal(suspicionTimeout(0, 0, 100, 600), 100, "K=0 uses the minimum");
  assert.equal(retransmitLimit(4, 10), 8);
  assert.equal(suspicionScale(100), 2);
});

test("config profiles: lan is fast, wan relaxed, overrides validated", () => {
  assert.ok(LAN.heartbeatTimeoutMs < WAN.heartbeatTimeoutMs && LAN.probeIntervalMs < WAN.probeIntervalMs);
  assert.equal(gossipProfile("lan", { gossipNodes: 5 }).gossipNodes, 5);
  assert.throws(() => gossipProfile("lan", { heartbeatObservers: 2 }), /heartbeatObservers/);
});

function rec(state: MemberRecord["state"], incarnation: number, name = "b"): MemberRecord {
  return {
    name,
    addr: "b:1",
    state,
    incarnation,
    metaDigest: "0",
    metaEncoded: undefined,
    meta: undefined,
    since: 0,
  };
}

test("state machine: incarnation rules", () => {
  const table: [string, ReturnType<typeof decideAlive>, ReturnType<typeof decideAlive>][] = [
    ["unknown", decideAlive(undefined, 1, false, 0, "d", "x"), "new"],
    ["stale alive", decideAlive(rec("alive", 5), 5, false, 0, "d", "x"), "ignore"],
    ["newer alive", decideAlive(rec("alive", 5), 6, false, 0, "d", "x"), "update"],
    ["suspect refuted", decideAlive(rec("suspect", 5), 6, false, 0, "d", "x"), "recover"],
    ["dead comes back", decideAlive(rec("dead", 5), 6, false, 0, "d", "x"), "rejoin"],
    ["dead same inc", decideAlive(rec("dead", 5), 5, false, 0, "d", "x"), "ignore"],
    ["our old life", decideAlive(undefined, 9, true, 3, "d", "d"), "refute"],
    ["our own echo", decideAlive(undefined, 3, true, 3, "d", "d"), "ignore"],
  ];
  for (const [what, got, want] of table) assert.equal(got, want, what);
  assert.equal(decideSuspect(rec("alive", 5), 4, false, 0), "ignore");
  assert.equal(decideSuspect(rec("alive", 5), 5, false, 0), "suspect");
  assert.equal(decideSuspect(rec("suspect", 5), 5, false, 0), "confirm");
  assert.equal(decideSuspect(rec("dead", 5), 5, false, 0), "ignore");
  assert.equal(decideSuspect(undefined, 5, true, 5), "refute");
  assert.equal(decideDead(rec("alive", 5), 5, "c", false, 0, false), "dead");
  assert.equal(decideDead(rec("alive", 5), 5, "b", false, 0, false), "left");
  assert.equal(decideDead(rec("dead", 5), 5, "b", false, 0, false), "left");
  assert.equal(decideDead(rec("left", 5), 6, "c", false, 0, false), "ignore");
  assert.equal(decideDead(rec("alive", 5), 4, "c", false, 0, false), "ignore");
  assert.equal(decideDead(undefined, 5, "c", true, 5, false), "refute");
  assert.equal(decideDead(undefined, 5, "me", true, 5, true), "ignore", "our own leave");
});

test("broadcast queue: newest replaces, free rides do not count, limit drops", () => {
  const q = new BroadcastQueue();
  q.enqueue("a", Buffer.from("a1"));
  q.enqueue("a", Buffer.from("a2"));
  q.enqueue("b", Buffer.from("b1"), 1);
  assert.equal(q.length, 2);
  for (let i = 0; i < 5; i++) assert.equal(q.take(100, 2, false).length, 2);
  assert.deepEqual(q.take(100, 2, true).map(String), ["a2", "b1"]);
  assert.deepEqual(q.take(100, 2, true).map(String), ["a2"]);
  assert.equal(q.length, 0);
  q.enqueue("c", Buffer.alloc(50));
  assert.equal(q.take(10, 2, true).length, 0, "does not fit");
});

test("ring: full mesh when small, k successors/predecessors when large, symmetric", () => {
  const names = Array.from({ length: 20 }, (_, i) => `n${i}`);
  const small = ringNeighbours("n0", names.slice(0, 4), 4);
  assert.equal(small.successors.length, 3);
  const views = new Map(names.map((n) => [n, ringNeighbours(n, names, 4)]));
  for (const [n, v] of views) {
    assert.equal(v.successors.length, 4);
    for (const s of v.successors) assert.ok(views.get(s)?.predecessors.includes(n), `${s} watches ${n}`);
  }
});

test("metadata: compact, deterministic, digest, validation", () => {
  const eligible = Array.from({ length: 5000 }, (_, i) => `198.51.${100 + (i >> 8)}.${i & 255}`);
  const meta = {
    labels: { zone: "a", rack: "r1" },
    manifestDigest: "sha256:abc",
    eligibility: {
      eligible,
      ineligible: [{ vip: "203.0.113.9", reason: "no interface with a subnet containing 203.0.113.9" }],
    },
  };
  const enc = encodeMetadata(meta);
  assert.ok(enc.length < 20_000, `5000 VIPs encode to ${enc.length} bytes`);
  assert.deepEqual(decodeMetadata(enc), meta);
  assert.equal(
    metadataDigest(enc),
    metadataDigest(encodeMetadata({ ...meta, labels: { rack: "r1", zone: "a" } })),
  );
  assert.throws(() => decodeMetadata(Buffer.from("garbage")), /metadata/);
  const withOwned = { ...meta, owned: ["198.51.100.6"] };
  assert.deepEqual(
    decodeMetadata(encodeMetadata(withOwned)),
    withOwned,
    "owned without interfaces/allocation",
  );
  const full = {
    ...withOwned,
    eligibility: { ...meta.eligibility, interfaces: { "198.51.100.6": "eth0" } },
    allocation: { digest: "d", entries: [{ service: "a/b", ips: ["198.51.100.6"], pool: "p", since: 1 }] },
  };
  assert.deepEqual(decodeMetadata(encodeMetadata(full)), full);
});

test("metadata: the allocation table's text is kept per table, and the record's bytes stay those of one JSON.stringify", () => {
  const entries = Array.from({ length: 300 }, (_, i) => ({
    service: `default/s${i}`,
    ips: [`198.51.100.${i % 250}`],
    pool: "p",
    since: 1_700_000_000_000 + i,
  }));
  const meta = {
    labels: { zone: "a" },
    manifestDigest: "sha256:abc",
    eligibility: {
      eligible: ["198.51.100.1"],
      ineligible: [{ vip: "198.51.100.2", reason: "link down" }],
      interfaces: { "198.51.100.1": "eth0" },
    },
    allocation: { digest: "d1", entries },
    owned: ["198.51.100.1"],
  };
  // What vipd 0.1.0 wrote (format 1) and format 2: the tuple as one JSON text, raw-deflated.
  const allocationTuple = [meta.allocation.digest, entries.map((e) => [e.service, e.ips, e.pool, e.since])];
  const interfaces = [["198.51.100.1", "eth0"]];
  const ineligible = [["198.51.100.2", "link down"]];
  // Formats 1 and 2 share the first eight slots; format 2 adds macs, released and the extension object.
  const common = [
    [["zone", "a"]],
    "sha256:abc",
    ["198.51.100.1"],
    ineligible,
    interfaces,
    allocationTuple,
    meta.owned,
  ];
  const v1 = [1, ...common];
  const v2 = [2, ...common, null, null, {}];
  for (let round = 0; round < 2; round++) {
    // The second round serves the table's text from what the first one kept.
    assert.equal(
      inflateRawSync(encodeMetadata(meta)).toString(),
      JSON.stringify(v1),
      `format 1, round ${round}`,
    );
    assert.equal(
      inflateRawSync(encodeMetadata(meta, { format: 2 })).toString(),
      JSON.stringify(v2),
      `format 2, round ${round}`,
    );
  }
  // The same entries under another digest (a table object rebuilt around them) are written afresh.
  const redigested = { ...meta, allocation: { digest: "d2", entries } };
  assert.equal((decodeMetadata(encodeMetadata(redigested)).allocation ?? { digest: "" }).digest, "d2");
  assert.deepEqual(decodeMetadata(encodeMetadata(meta)), meta);
});

test("virtual clock and rng are deterministic", () => {
  const s = new VirtualScheduler();
  const order: number[] = [];
  s.setTimer(10, () => order.push(2));
  s.setTimer(5, () => order.push(1));
  const h = s.setTimer(7, () => order.push(99));
  s.clearTimer(h);
  s.setTimer(10, () => order.push(3));
  s.advance(20);
  assert.deepEqual(order, [1, 2, 3]);
  assert.equal(s.now(), 20);
  const a = new Rng(42);
  const b = new Rng(42);
  assert.deepEqual([a.next(), a.int(10)], [b.next(), b.int(10)]);
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 10_000; i++) for (const x of a.sample([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 3)) counts[x]++;
  for (const c of counts) assert.ok(c > 2500 && c < 3500, `uniform sample, got ${counts}`);
});

test("refuteCountsAgainstUs: accusations from a member that was itself cut off do not raise local health", () => {
  const window = 3000;
  const now = 100_000;
  const table: Array<[string, Parameters<typeof refuteCountsAgainstUs>[0], boolean]> = [
    ["unknown accuser", undefined, true],
    ["alive, never came back from dead", { state: "alive" }, true],
    ["suspect, never dead", { state: "suspect" }, true],
    ["accuser we hold dead", { state: "dead" }, false],
    ["accuser that left", { state: "left" }, false],
    ["back from dead 1 ms ago", { state: "alive", returnedAt: now - 1 }, false],
    ["back from dead just inside the window", { state: "alive", returnedAt: now - window + 1 }, false],
    ["back from dead a window ago", { state: "alive", returnedAt: now - window }, true],
  ];
  for (const [name, accuser, expected] of table)
    assert.equal(refuteCountsAgainstUs(accuser, now, window), expected, name);
});
