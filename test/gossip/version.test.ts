// Versions on the wire: the pure negotiation (table), the metadata formats (0.1.0's frozen format 1 with the
// vector in a label, format 2 with optional fields), and on the simulator: a mixed cluster steps down to what
// its oldest live member speaks and back up once it leaves; a member whose range does not overlap is refused
// and never joins.
import { test } from "node:test";
import assert from "node:assert/strict";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import {
  decodeMetadata,
  decodeRecord,
  encodeMetadata,
  MetadataFormatError,
  readRecordVersions,
  VERSION_LABEL,
  type MemberMetadata,
} from "../../lib/gossip/metadata";
import { SimCluster } from "../../lib/gossip/sim-cluster";
import { decodePacket, encodeMessage, encodePacket } from "../../lib/gossip/codec";
import {
  holdsChosen,
  LEGACY_VERSIONS,
  negotiate,
  negotiatesAlike,
  type MemberVersions,
  type OwnRanges,
} from "../../lib/gossip/version";

const vec = (build: string, p: [number, number], m: [number, number]): MemberVersions => ({
  build,
  protocol: { min: p[0], max: p[1], current: p[1] },
  metadata: { min: m[0], max: m[1], current: m[1] },
});
const R = (p: [number, number], m: [number, number]): OwnRanges => ({
  protocol: { min: p[0], max: p[1] },
  metadata: { min: m[0], max: m[1] },
});

test("negotiate: the highest version every live member understands; non-overlapping members refused (table)", () => {
  const cases: {
    name: string;
    own: OwnRanges;
    peers: [string, MemberVersions][];
    protocol: number;
    metadata: number;
    refused: string[];
    reason?: RegExp;
  }[] = [
    { name: "alone: our highest", own: R([1, 2], [1, 2]), peers: [], protocol: 2, metadata: 2, refused: [] },
    {
      name: "all 0.2.0",
      own: R([1, 2], [1, 2]),
      peers: [["b", vec("0.2.0", [1, 2], [1, 2])]],
      protocol: 2,
      metadata: 2,
      refused: [],
    },
    {
      name: "one 0.1.0 member: everyone speaks 1",
      own: R([1, 2], [1, 2]),
      peers: [
        ["b", vec("0.2.0", [1, 2], [1, 2])],
        ["c", LEGACY_VERSIONS],
      ],
      protocol: 1,
      metadata: 1,
      refused: [],
    },
    {
      name: "a newer member (N+1) that still speaks ours: ours",
      own: R([1, 2], [1, 2]),
      peers: [["b", vec("0.3.0", [2, 3], [2, 3])]],
      protocol: 2,
      metadata: 2,
      refused: [],
    },
    {
      name: "we are the newer one (0.3.0 among 0.2.0)",
      own: R([2, 3], [2, 3]),
      peers: [["b", vec("0.2.0", [1, 2], [1, 2])]],
      protocol: 2,
      metadata: 2,
      refused: [],
    },
    {
      name: "two releases apart (0.1.0 vs 0.3.0): refused by protocol",
      own: R([2, 3], [2, 3]),
      peers: [["old", LEGACY_VERSIONS]],
      protocol: 3,
      metadata: 3,
      refused: ["old"],
      reason: /its gossip protocol range 1 \(vipd 0\.1\.0\) does not overlap this node's 2\.\.3/,
    },
    {
      name: "protocol overlaps but metadata does not",
      own: R([1, 2], [1, 2]),
      peers: [["m", vec("9.0.0", [1, 9], [3, 4])]],
      protocol: 2,
      metadata: 2,
      refused: ["m"],
      reason: /its metadata format range 3\.\.4 \(vipd 9\.0\.0\) does not overlap this node's 1\.\.2/,
    },
    {
      name: "refused members do not drag the rest down",
      own: R([2, 3], [2, 3]),
      peers: [
        ["a", LEGACY_VERSIONS],
        ["b", vec("0.3.0", [2, 3], [2, 3])],
      ],
      protocol: 3,
      metadata: 3,
      refused: ["a"],
    },
    {
      name: "each overlaps us, no version common to all: the majority's wins, the others refused",
      own: R([1, 3], [1, 3]),
      peers: [
        ["a", vec("x", [1, 1], [1, 3])],
        ["b", vec("y", [2, 3], [1, 3])],
        ["c", vec("z", [3, 3], [1, 3])],
      ],
      protocol: 3,
      metadata: 3,
      refused: ["a"],
      reason: /misses version 3, which the rest of the cluster speaks/,
    },
  ];
  for (const c of cases) {
    const got = negotiate(
      c.own,
      c.peers.map(([name, versions]) => ({ name, versions })),
    );
    assert.equal(got.protocol, c.protocol, `${c.name}: protocol`);
    assert.equal(got.metadata, c.metadata, `${c.name}: metadata`);
    assert.deepEqual(
      got.refused.map((r) => r.name),
      c.refused,
      `${c.name}: refused`,
    );
    if (c.reason) assert.match(got.refused[0]?.reason ?? "", c.reason, c.name);
  }
});

const META: MemberMetadata = {
  labels: { zone: "a" },
  manifestDigest: "sha256:abc",
  eligibility: { eligible: ["198.51.100.1"], ineligible: [{ vip: "198.51.100.2", reason: "no link" }] },
  owned: ["198.51.100.1"],
  macs: ["02:00:00:00:00:01"],
};
const V020 = vec("0.2.0", [1, 2], [1, 1]);

function tuple(b: Buffer): unknown[] {
  return JSON.parse(inflateRawSync(b).toString("utf8")) as unknown[];
}

test("holdsChosen: a newcomer whose ranges hold the chosen versions never changes a negotiation (exhaustive, versions 1..3)", () => {
  // Memberlist skips the pass over every live member for such a newcomer; this checks the shortcut is exact.
  const ranges: [number, number][] = [];
  for (let lo = 1; lo <= 3; lo++) for (let hi = lo; hi <= 3; hi++) ranges.push([lo, hi]);
  const vectors = ranges.flatMap((p) => ranges.map((m) => vec(`${p}/${m}`, p, m)));
  const own = R([1, 3], [1, 2]);
  let checked = 0;
  let skipped = 0;
  for (const a of vectors)
    for (const b of vectors) {
      const before = negotiate(own, [
        { name: "a", versions: a },
        { name: "b", versions: b },
      ]);
      // The table holds no refused member: refusals leave it.
      const live = [
        { name: "a", versions: a },
        { name: "b", versions: b },
      ].filter((p) => !before.refused.some((r) => r.name === p.name));
      const chosen = negotiate(own, live);
      for (const c of vectors) {
        const after = negotiate(own, [...live, { name: "c", versions: c }]);
        const unchanged =
          after.protocol === chosen.protocol &&
          after.metadata === chosen.metadata &&
          after.refused.length === 0;
        if (holdsChosen(c, chosen)) {
          checked++;
          assert.ok(unchanged, `${a.build} ${b.build} + ${c.build}: ${JSON.stringify(after)}`);
        } else skipped++;
      }
    }
  assert.ok(checked > 1000 && skipped > 1000, `both sides exercised: ${checked} held, ${skipped} not`);
});

test("negotiatesAlike: ranges and build count, the version spoken now does not", () => {
  const a = vec("0.2.0", [1, 2], [1, 2]);
  assert.ok(negotiatesAlike(a, { ...a, protocol: { ...a.protocol, current: 1 } }));
  assert.ok(!negotiatesAlike(a, vec("0.2.0", [1, 1], [1, 2])));
  assert.ok(!negotiatesAlike(a, vec("0.2.0", [1, 2], [2, 2])));
  assert.ok(!negotiatesAlike(a, vec("0.3.0", [1, 2], [1, 2])));
});

test("metadata format 1: what 0.1.0 reads (≤ 10 positions, format 1, the vector as a label), stripped on decode", () => {
  // Without a vector it is byte for byte 0.1.0's encoding, which this tuple literally is.
  const plain = encodeMetadata(META);
  assert.deepEqual(tuple(plain), [
    1,
    [["zone", "a"]],
    "sha256:abc",
    ["198.51.100.1"],
    [["198.51.100.2", "no link"]],
    null,
    null,
    ["198.51.100.1"],
    ["02:00:00:00:00:01"],
  ]);
  const withVersions = encodeMetadata(META, { format: 1, versions: V020 });
  const raw = tuple(withVersions);
  // 0c363b2's decodeMetadata: length in [5, 7, 8, 9, 10], slot 0 === 1, labels string pairs.
  assert.ok([5, 7, 8, 9, 10].includes(raw.length));
  assert.equal(raw[0], 1);
  assert.deepEqual(raw[1], [
    [VERSION_LABEL, "0.2.0;1.2.2;1.1.1"],
    ["zone", "a"],
  ]);
  const back = decodeRecord(withVersions);
  assert.equal(back.format, 1);
  assert.deepEqual(back.metadata, META, "the reserved label is not a label to the reader");
  assert.deepEqual(back.versions, V020);
  assert.equal(decodeRecord(plain).versions, undefined, "no vector: a 0.1.0 member");
  // A configured label of that name never leaks: the encoder owns it.
  const sneaky = encodeMetadata({ ...META, labels: { ...META.labels, [VERSION_LABEL]: "forged" } });
  assert.deepEqual(decodeMetadata(sneaky).labels, META.labels);
});

test("metadata format 2: optional fields in slot 10; unknown keys and positions ignored; unknown formats refused", () => {
  const v2 = encodeMetadata(META, { format: 2, versions: V020 });
  const raw = tuple(v2);
  assert.equal(raw[0], 2);
  assert.equal(raw.length, 11);
  const back = decodeRecord(v2);
  assert.deepEqual(back.metadata, META);
  assert.deepEqual(back.versions, V020);
  // A later release adds a key to slot 10 and a position 11: this build reads the rest as before.
  const grown = [...raw];
  grown[10] = { ...(raw[10] as object), newField: [1, 2, 3] };
  grown.push({ more: true });
  const later = decodeRecord(deflateRawSync(Buffer.from(JSON.stringify(grown))));
  assert.deepEqual(later.metadata, META);
  assert.deepEqual(later.versions, V020);
  // A format outside our range is an error that still carries the sender's vector, to refuse it by name.
  const future = [...raw];
  future[0] = 3;
  future[10] = { v: ["0.4.0", 3, 4, 3, 3, 3, 3] };
  assert.throws(
    () => decodeRecord(deflateRawSync(Buffer.from(JSON.stringify(future)))),
    (e: unknown) =>
      e instanceof MetadataFormatError &&
      e.format === 3 &&
      e.versions?.build === "0.4.0" &&
      e.versions.protocol.min === 3,
  );
  assert.throws(() => encodeMetadata(META, { format: 0 }), /cannot write format 0/);
});

test("readRecordVersions (the gossip thread's reader) gives decodeRecord's format and vector, and its refusals", () => {
  const records = [
    encodeMetadata(META),
    encodeMetadata(META, { format: 1, versions: V020 }),
    encodeMetadata(META, { format: 2, versions: V020 }),
    encodeMetadata(META, { format: 2 }),
  ];
  for (const record of records) {
    const full = decodeRecord(record);
    assert.deepEqual(readRecordVersions(record), { versions: full.versions, format: full.format });
  }
  const future = deflateRawSync(
    Buffer.from(
      JSON.stringify([3, [], "", [], [], null, null, null, null, null, { v: ["0.4.0", 3, 4, 3, 3, 3, 3] }]),
    ),
  );
  assert.throws(
    () => readRecordVersions(future),
    (e: unknown) => e instanceof MetadataFormatError && e.versions?.build === "0.4.0",
  );
  assert.throws(() => readRecordVersions(Buffer.from("not deflate")), /metadata:/);
  const badLabels = deflateRawSync(Buffer.from(JSON.stringify([1, [["only-key"]], "", [], []])));
  assert.throws(() => readRecordVersions(badLabels), /bad labels/);
  // It finds the slots by bracket depth: strings full of brackets, quotes, commas and escapes, and
  // multi-byte UTF-8, must not move them.
  const tricky: MemberMetadata = {
    ...META,
    labels: { 'a,]"[{}\\': '"],[{ \\"', zoné: "ü,]" },
    eligibility: { eligible: ["198.51.100.1"], ineligible: [{ vip: "198.51.100.2", reason: 'x"],[\\' }] },
  };
  for (const format of [1, 2]) {
    const record = encodeMetadata(tricky, { format, versions: V020 });
    assert.deepEqual(readRecordVersions(record), { versions: V020, format }, `format ${format}`);
    // The same JSON with whitespace between the tokens.
    const spaced = deflateRawSync(Buffer.from(JSON.stringify(tuple(record), null, 2)));
    assert.deepEqual(readRecordVersions(spaced), { versions: V020, format }, `format ${format}, spaced`);
  }
  const broken = ["[]", "[1,,2]", '[1, [], "", [], []] x', '[1, [], "', "{}", '[1, [["a", "b"]], "", [], []'];
  for (const text of broken)
    assert.throws(() => readRecordVersions(deflateRawSync(Buffer.from(text))), /metadata:/, text);
});

test("sim: a 0.1.0-like member makes everyone speak 1; once it leaves they step back up to 2", () => {
  const c = SimCluster.build(3, { seed: 1701 }, 5);
  assert.ok(c.sched.runUntilTrue(() => c.converged(), 10_000, 10) !== undefined);
  for (const n of c.nodes) assert.deepEqual(n.ml.versions, { protocol: 2, metadata: 2 }, n.name);
  const old = c.addNode("old", { build: "0.1.0", versionRanges: R([1, 1], [1, 1]) });
  old.ml.join([c.node("node-0").addr]);
  const speakOne = () =>
    c.nodes.every((n) => n.ml.versions.metadata === 1 && n.ml.versions.protocol === 1) &&
    c.converged() &&
    // The old member holds every record: they are in the format it reads.
    ["node-0", "node-1", "node-2"].every((name) => old.ml.member(name)?.versions?.metadata.current === 1);
  assert.ok(c.sched.runUntilTrue(speakOne, 10_000, 10) !== undefined, "everyone speaks 1");
  assert.equal(c.node("node-1").ml.member("old")?.versions?.build, "0.1.0");
  assert.equal(c.node("old").ml.member("node-1")?.versions?.build, "dev");
  void old.ml.leave();
  assert.ok(
    c.sched.runUntilTrue(
      () => ["node-0", "node-1", "node-2"].every((n) => c.node(n).ml.versions.metadata === 2),
      10_000,
      10,
    ) !== undefined,
    "back to 2 once it left",
  );
  for (const n of ["node-0", "node-1", "node-2"])
    assert.equal(c.node(n).ml.stats().membersRefused, 0, `${n} refused nobody`);
});

test("sim: a record handed over already encoded (the gossip thread's way) is encoded again when the versions change", () => {
  const c = SimCluster.build(3, { seed: 1703 }, 5);
  assert.ok(c.sched.runUntilTrue(() => c.converged(), 10_000, 10) !== undefined);
  const ml = c.node("node-1").ml;
  const record: MemberMetadata = { ...META, labels: { zone: "encoded-by-caller" } };
  let versions = ml.ownVersionVector;
  const encodings: number[] = [];
  const hand = (): boolean => {
    encodings.push(versions.metadata.current);
    return ml.setEncodedMetadata(
      encodeMetadata(record, { format: versions.metadata.current, versions }),
      versions,
    );
  };
  ml.on("speaking", (v) => {
    versions = v;
    assert.equal(hand(), true, "the new vector is taken");
  });
  assert.equal(hand(), true);
  const stale: MemberVersions = { ...versions, metadata: { ...versions.metadata, current: 1 } };
  const digest = ml.encodedMetadata("node-1")?.digest;
  assert.equal(ml.setEncodedMetadata(encodeMetadata(record, { format: 1, versions: stale }), stale), false);
  assert.equal(ml.encodedMetadata("node-1")?.digest, digest, "a refused encoding changes nothing");

  const old = c.addNode("old", { build: "0.1.0", versionRanges: R([1, 1], [1, 1]) });
  old.ml.join([c.node("node-0").addr]);
  const oldReadsIt = (): boolean =>
    old.ml.member("node-1")?.metadata?.labels.zone === "encoded-by-caller" &&
    old.ml.member("node-1")?.versions?.metadata.current === 1;
  assert.ok(c.sched.runUntilTrue(oldReadsIt, 10_000, 10) !== undefined, "0.1.0 reads the re-encoded record");
  assert.deepEqual(encodings, [2, 1]);
});

test("sim: a member whose ranges do not overlap is refused by everyone and never joins", () => {
  const c = SimCluster.build(3, { seed: 1702 }, 5);
  assert.ok(c.sched.runUntilTrue(() => c.converged(), 10_000, 10) !== undefined);
  const joinedAt = new Map<string, number>();
  const metadataSeen: string[] = [];
  const refusals: string[] = [];
  const refusedAt = new Map<string, number>();
  c.on("join", (observer, m) => {
    if (m.name === "future") joinedAt.set(observer, c.sched.now());
  });
  c.on("metadata", (observer, m) => {
    if (m.name === "future") metadataSeen.push(observer);
  });
  c.on("refused", (observer, m, reason) => {
    if (m.name === "future") {
      refusals.push(`${observer}: ${reason}`);
      refusedAt.set(observer, c.sched.now());
    }
  });
  const future = c.addNode("future", { build: "0.4.0", versionRanges: R([3, 4], [3, 3]) });
  // It writes format 3 (unknown here): its record is readable only by its vector.
  future.ml.join([c.node("node-0").addr]);
  c.sched.advance(5000);
  // A member learned from a push-pull entry (no record inline) is in the table without metadata for the
  // round trip that fetches its record, like any joining member; the record refuses it. It never becomes a
  // member with a record (never eligible, never in the election).
  assert.deepEqual(metadataSeen, [], "no 0.2.0 node ever accepted its record");
  for (const [observer, at] of joinedAt)
    assert.ok((refusedAt.get(observer) ?? Infinity) - at < 500, `${observer} refused it within the fetch`);
  assert.equal(refusals.length, 3, refusals.join("\n"));
  for (const r of refusals)
    assert.match(r, /refused future \(.*\): .*vipd 0\.4\.0.*; this node: vipd dev, gossip protocol 1\.\.2/);
  for (const n of ["node-0", "node-1", "node-2"]) {
    assert.equal(c.node(n).ml.member("future"), undefined, `${n} has no record of it`);
    assert.ok(c.node(n).ml.stats().membersRefused >= 1);
    assert.deepEqual(c.node(n).ml.versions, { protocol: 2, metadata: 2 }, "the rest still speak 2");
  }
  // It refused them in turn: it is alone, not half in a cluster.
  assert.deepEqual(
    future.ml.members().map((m) => m.name),
    ["future"],
  );
  assert.equal(future.ml.stats().membersRefused, 3);
  // The cluster itself is intact: the three still see each other, nobody was declared dead.
  assert.ok(
    ["node-0", "node-1", "node-2"].every(
      (o) =>
        c
          .node(o)
          .ml.members()
          .filter((m) => m.state === "alive").length === 3,
    ),
  );
  assert.equal(
    c.nodes.reduce((s, n) => s + n.ml.stats().deadDeclared, 0),
    0,
  );
});

test("protocol 2 reading: unknown message types are skipped, bytes after a message's fields ignored", () => {
  const ping = encodeMessage({ type: "ping", seq: 7, target: "b" });
  const extended = Buffer.concat([encodeMessage({ type: "ack", seq: 9 }), Buffer.from("later field")]);
  const unknown = Buffer.from([200, 1, 2, 3]);
  const packet = encodePacket({ sender: "a", epoch: 1, seq: 1 }, [unknown, ping, extended]);
  assert.deepEqual(decodePacket(packet).messages, [
    { type: "ping", seq: 7, target: "b" },
    { type: "ack", seq: 9 },
  ]);
  // What this build sends is still exactly protocol 1: no message grows while a 0.1.0 member may listen.
  assert.deepEqual(ping, Buffer.concat([Buffer.of(0, 0, 0, 0, 7, 1), Buffer.from("b")]));
});

test("decodeRecord with the previous record keeps its unchanged eligibility and allocation objects", () => {
  const first: MemberMetadata = {
    ...META,
    eligibility: { ...META.eligibility, interfaces: { "198.51.100.1": "eth0" } },
    allocation: {
      digest: "alloc-1",
      entries: [{ service: "a/b", ips: ["198.51.100.1"], pool: "p", since: 1 }],
    },
  };
  const previous = decodeRecord(encodeMetadata(first, { format: 2, versions: V020 })).metadata;
  const heldOnly = decodeRecord(
    encodeMetadata({ ...first, owned: [] }, { format: 2, versions: V020 }),
    undefined,
    previous,
  ).metadata;
  assert.equal(heldOnly.eligibility, previous.eligibility, "same eligibility: the same object");
  assert.equal(heldOnly.allocation, previous.allocation, "same allocation digest: the same object");
  assert.deepEqual(heldOnly.owned, []);
  const rows: Array<[string, MemberMetadata]> = [
    [
      "one more eligible",
      { ...first, eligibility: { ...first.eligibility, eligible: ["198.51.100.1", "198.51.100.3"] } },
    ],
    [
      "another reason",
      {
        ...first,
        eligibility: { ...first.eligibility, ineligible: [{ vip: "198.51.100.2", reason: "link down" }] },
      },
    ],
    [
      "another interface",
      { ...first, eligibility: { ...first.eligibility, interfaces: { "198.51.100.1": "eth1" } } },
    ],
    [
      "no interfaces",
      {
        ...first,
        eligibility: { eligible: first.eligibility.eligible, ineligible: first.eligibility.ineligible },
      },
    ],
  ];
  for (const [what, next] of rows) {
    const back = decodeRecord(
      encodeMetadata(next, { format: 2, versions: V020 }),
      undefined,
      previous,
    ).metadata;
    assert.notEqual(back.eligibility, previous.eligibility, what);
    assert.deepEqual(back.eligibility, next.eligibility, what);
  }
  const realloc = decodeRecord(
    encodeMetadata(
      { ...first, allocation: { digest: "alloc-2", entries: [] } },
      { format: 2, versions: V020 },
    ),
    undefined,
    previous,
  ).metadata;
  assert.deepEqual(realloc.allocation, { digest: "alloc-2", entries: [] });
});
