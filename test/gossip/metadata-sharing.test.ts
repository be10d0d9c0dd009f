// Decoding a member's record against this node's own record: what the member repeats of ours is our very
// objects (memory at 10,000 VIPs), and the decoded record means exactly what a plain decode means.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeRecord,
  encodeMetadata,
  encodeMetadataThen,
  FAST_DEFLATE_BYTES,
  shareAllocation,
  type MemberMetadata,
} from "../../lib/gossip/metadata";

const ips = (n: number, base = 0): string[] => Array.from({ length: n }, (_, i) => `198.51.100.${base + i}`);

function record(opts: {
  eligible: string[];
  ineligible?: [string, string][];
  entries: { service: string; ips: string[]; pool: string; since: number }[];
  digest: string;
}): MemberMetadata {
  return {
    labels: {},
    manifestDigest: "m1",
    eligibility: {
      eligible: opts.eligible,
      ineligible: (opts.ineligible ?? []).map(([vip, reason]) => ({ vip, reason })),
    },
    allocation: { digest: opts.digest, entries: opts.entries },
  };
}

const entries = (since: number, list = ips(20)) =>
  list.map((ip, i) => ({ service: `default/s${i}`, ips: [ip], pool: "scale", since }));

/** Decoded from bytes twice: once plain, once against `own`; both must mean the same. */
function decodeBoth(
  peer: MemberMetadata,
  own: MemberMetadata,
): { plain: MemberMetadata; shared: MemberMetadata } {
  const bytes = encodeMetadata(peer);
  return {
    plain: decodeRecord(bytes).metadata,
    shared: decodeRecord(bytes, undefined, undefined, own).metadata,
  };
}

test("metadata sharing: a record equal to ours decodes into our objects, and means the same (table)", () => {
  const own = record({ eligible: ips(20), entries: entries(1000), digest: "d1" });
  const cases: { name: string; peer: MemberMetadata; check: (shared: MemberMetadata) => void }[] = [
    {
      name: "same table and list: our table object and our list",
      peer: record({ eligible: ips(20), entries: entries(1000), digest: "d1" }),
      check: (m) => {
        assert.equal(m.allocation, own.allocation);
        assert.equal(m.eligibility.eligible, own.eligibility.eligible);
      },
    },
    {
      name: "another since: new entries sharing our IP arrays",
      peer: record({ eligible: ips(20), entries: entries(999), digest: "d1" }),
      check: (m) => {
        assert.notEqual(m.allocation, own.allocation);
        m.allocation!.entries.forEach((e, i) => {
          assert.notEqual(e, own.allocation!.entries[i]);
          assert.equal(e.ips, own.allocation!.entries[i]!.ips);
        });
      },
    },
    {
      name: "one entry moved: the others are ours",
      peer: record({
        eligible: ips(20),
        entries: entries(1000).map((e, i) => (i === 5 ? { ...e, ips: ["203.0.113.5"] } : e)),
        digest: "d2",
      }),
      check: (m) => {
        const shared = m.allocation!.entries.filter((e, i) => e === own.allocation!.entries[i]).length;
        assert.equal(shared, 19);
      },
    },
    {
      name: "a shorter list: each equal string is ours, the list is its own",
      peer: record({ eligible: ips(10), entries: entries(1000), digest: "d1" }),
      check: (m) => {
        assert.notEqual(m.eligibility.eligible, own.eligibility.eligible);
        m.eligibility.eligible.forEach((ip, i) => assert.equal(ip, own.eligibility.eligible[i]));
      },
    },
    {
      name: "a starting member: every VIP ineligible with one reason",
      peer: record({
        eligible: [],
        ineligible: ips(20).map((ip): [string, string] => [ip, "starting: not ready yet"]),
        entries: entries(1000),
        digest: "d1",
      }),
      check: (m) => {
        const reasons = new Set(m.eligibility.ineligible.map((x) => x.reason));
        assert.equal(reasons.size, 1);
      },
    },
    {
      name: "a different order: nothing shared, nothing wrong",
      peer: record({ eligible: ips(20).reverse(), entries: entries(1000).reverse(), digest: "d3" }),
      check: (m) => {
        assert.notEqual(m.allocation, own.allocation);
        assert.notEqual(m.eligibility.eligible, own.eligibility.eligible);
      },
    },
  ];
  for (const c of cases) {
    const { plain, shared } = decodeBoth(c.peer, own);
    assert.deepEqual(shared, plain, c.name);
    c.check(shared);
  }
});

test("metadata sharing: a record without allocation or own record decodes as before", () => {
  const peer: MemberMetadata = {
    labels: { zone: "a" },
    manifestDigest: "m1",
    eligibility: { eligible: ips(3), ineligible: [] },
  };
  const bytes = encodeMetadata(peer);
  assert.deepEqual(
    decodeRecord(bytes, undefined, undefined, undefined).metadata,
    decodeRecord(bytes).metadata,
  );
  const own = record({ eligible: ips(3), entries: entries(1, ips(3)), digest: "x" });
  assert.deepEqual(decodeRecord(bytes, undefined, undefined, own).metadata, decodeRecord(bytes).metadata);
});

test("metadata sharing: a table decoded before ours settled becomes ours once equal", () => {
  const early = record({ eligible: ips(20), entries: entries(999), digest: "d1" });
  const settled = record({ eligible: ips(20), entries: entries(999), digest: "d1" });
  const peerBytes = encodeMetadata(record({ eligible: ips(20), entries: entries(999), digest: "d1" }));
  // Decoded while our table still had other `since`s: entries of its own.
  const ownBefore = record({ eligible: ips(20), entries: entries(1000), digest: "d1" });
  const first = decodeRecord(peerBytes, undefined, undefined, ownBefore).metadata;
  assert.notEqual(first.allocation, ownBefore.allocation);
  // The same digest again, ours now equal: the next record shares ours instead of keeping the copy.
  const again = decodeRecord(peerBytes, undefined, first, settled).metadata;
  assert.equal(again.allocation, settled.allocation);
  // Kept as is once shared, and when ours has another digest.
  assert.equal(decodeRecord(peerBytes, undefined, again, settled).metadata.allocation, settled.allocation);
  const other = record({ eligible: ips(20), entries: entries(999, ips(20, 50)), digest: "d9" });
  assert.equal(decodeRecord(peerBytes, undefined, first, other).metadata.allocation, first.allocation);
  // shareAllocation: ours when equal entry by entry, the record itself otherwise.
  const shared = shareAllocation(first, early);
  assert.equal(shared.allocation, early.allocation);
  assert.deepEqual(shared, first);
  assert.equal(shareAllocation(first, ownBefore), first, "another since: not equal");
  assert.equal(shareAllocation(first, other), first, "another digest");
});

test("metadata sharing: the member's interface map is ours when it names the same interfaces", () => {
  const withInterfaces = (list: string[], itf: (i: number) => string): MemberMetadata => ({
    ...record({ eligible: list, entries: entries(1, list), digest: "d" }),
    eligibility: {
      eligible: list,
      ineligible: [],
      interfaces: Object.fromEntries(list.map((ip, i) => [ip, itf(i)])),
    },
  });
  const own = withInterfaces(ips(20), () => "eth0");
  const cases: { name: string; peer: MemberMetadata; shared: boolean }[] = [
    { name: "same map", peer: withInterfaces(ips(20), () => "eth0"), shared: true },
    {
      name: "one interface differs",
      peer: withInterfaces(ips(20), (i) => (i === 3 ? "eth1" : "eth0")),
      shared: false,
    },
    { name: "fewer VIPs", peer: withInterfaces(ips(19), () => "eth0"), shared: false },
    {
      name: "a repeated VIP in place of one of ours",
      peer: {
        ...withInterfaces(ips(20), () => "eth0"),
        eligibility: {
          eligible: ips(20),
          ineligible: [],
          interfaces: Object.fromEntries(ips(19).map((ip) => [ip, "eth0"])),
        },
      },
      shared: false,
    },
  ];
  for (const c of cases) {
    const { plain, shared } = decodeBoth(c.peer, own);
    assert.deepEqual(shared, plain, c.name);
    assert.equal(shared.eligibility.interfaces === own.eligibility.interfaces, c.shared, c.name);
  }
});

test("metadata encoding: a large record is deflated off the thread into the bytes the direct encoding gives", async () => {
  const many = Array.from({ length: 12_000 }, (_, i) => `2001:db8::${i.toString(16)}`);
  const big = record({
    eligible: many,
    digest: "d",
    entries: many.map((ip, i) => ({ service: `default/s${i}`, ips: [ip], pool: "p", since: 1_000 + i })),
  });
  const small = record({ eligible: ips(3), digest: "s", entries: entries(1, ips(3)) });
  const direct = encodeMetadata(big, { format: 2 });
  assert.ok(Buffer.from(JSON.stringify(decodeRecord(direct).metadata)).length > FAST_DEFLATE_BYTES);
  const { later, afterReturn } = await new Promise<{ later: Buffer; afterReturn: boolean }>((resolve) => {
    let returned = false;
    encodeMetadataThen(big, { format: 2 }, (encoded) => resolve({ later: encoded, afterReturn: returned }));
    returned = true;
  });
  assert.ok(afterReturn, "the large record's bytes came after the call returned (deflated off the thread)");
  assert.deepEqual(later, direct, "the same bytes");
  assert.deepEqual(decodeRecord(later).metadata, decodeRecord(direct).metadata);
  let smallBytes: Buffer | undefined;
  encodeMetadataThen(small, { format: 2 }, (encoded) => (smallBytes = encoded));
  assert.deepEqual(smallBytes, encodeMetadata(small, { format: 2 }), "a small record at once");
});
