import { test } from "node:test";
import assert from "node:assert/strict";
import {
  allocationDigest,
  contestedWinners,
  entriesFor,
  mergeAllocations,
  type AllocationEntry,
  type MemberTable,
} from "../../lib/alloc/agreement";
import { allocate } from "../../lib/alloc/allocator";
import { config, pool, svc } from "./alloc-builders";

const entry = (service: string, ip: string, since: number) => ({ service, ips: [ip], pool: "p", since });

test("mergeAllocations: per service the earliest allocation wins, ties go to the lower node name", () => {
  const cases: { name: string; tables: MemberTable[]; want: Record<string, string> }[] = [
    {
      name: "earliest since wins",
      tables: [
        { node: "a", entries: [entry("default/x", "10.0.0.2", 200)] },
        { node: "b", entries: [entry("default/x", "10.0.0.1", 100)] },
      ],
      want: { "default/x": "10.0.0.1" },
    },
    {
      name: "tie broken by node name",
      tables: [
        { node: "b", entries: [entry("default/x", "10.0.0.2", 100)] },
        { node: "a", entries: [entry("default/x", "10.0.0.1", 100)] },
      ],
      want: { "default/x": "10.0.0.1" },
    },
    {
      name: "union of services",
      tables: [
        { node: "a", entries: [entry("default/x", "10.0.0.1", 1)] },
        { node: "b", entries: [entry("default/y", "10.0.0.2", 1)] },
      ],
      want: { "default/x": "10.0.0.1", "default/y": "10.0.0.2" },
    },
  ];
  for (const c of cases) {
    const { state } = mergeAllocations(c.tables);
    const got = Object.fromEntries(Object.entries(state.assignments).map(([k, v]) => [k, v.ips.join(",")]));
    assert.deepEqual(got, c.want, c.name);
    assert.deepEqual(mergeAllocations([...c.tables].reverse()).state, state, `${c.name}: order-independent`);
  }
});

test("entriesFor keeps `since` only for unchanged allocations; the digest ignores history", () => {
  const known = new Map([["default/x", entry("default/x", "10.0.0.1", 5)]]);
  const entries = entriesFor(
    [
      { service: "default/x", ips: ["10.0.0.1"], pool: "p" },
      { service: "default/y", ips: ["10.0.0.2"], pool: "p" },
    ],
    known,
    99,
  );
  assert.deepEqual(
    entries.map((e) => e.since),
    [5, 99],
  );
  assert.equal(
    allocationDigest(entries),
    allocationDigest(entries.map((e) => ({ ...e, since: 0 })).reverse()),
  );
});

test("two nodes with different histories converge on one allocation after one merge", () => {
  const pools = [pool("p", ["198.51.100.10-198.51.100.20"])];
  const [a, b, c] = [svc("default/a"), svc("default/b"), svc("default/c")];
  // Node 1 saw a, then c; node 2 (down meanwhile) starts fresh with a, b and c.
  const n1first = allocate(config(pools, [a, c]), undefined);
  const n1 = allocate(config(pools, [a, b, c]), n1first.state);
  const n2 = allocate(config(pools, [a, b, c]), undefined);
  assert.notDeepEqual(n1.assignments, n2.assignments, "histories really differ");
  const t1 = entriesFor(n1.assignments, new Map(), 100).map((e) =>
    e.service === "default/b" ? { ...e, since: 300 } : e,
  );
  const t2 = entriesFor(n2.assignments, new Map(), 200);
  const merged = mergeAllocations([
    { node: "node1", entries: t1 },
    { node: "node2", entries: t2 },
  ]);
  const after1 = allocate(config(pools, [a, b, c]), merged.state);
  const after2 = allocate(config(pools, [a, b, c]), merged.state);
  assert.deepEqual(after1.assignments, after2.assignments);
  // a is the same everywhere; b (earliest on node2) keeps node2's IP; c clashed with it and, as the later
  // key on a clash, was reallocated: the allocator's own rule for a clash in `previous`.
  const ips = Object.fromEntries(after1.assignments.map((x) => [x.service, x.ips.join(",")]));
  assert.deepEqual(ips, {
    "default/a": "198.51.100.10",
    "default/b": "198.51.100.11",
    "default/c": "198.51.100.12",
  });
  const again = allocate(
    config(pools, [a, b, c]),
    mergeAllocations([
      { node: "node1", entries: entriesFor(after1.assignments, merged.entries, 400) },
      { node: "node2", entries: entriesFor(after2.assignments, merged.entries, 400) },
    ]).state,
  );
  assert.deepEqual(again.assignments, after1.assignments, "a second merge changes nothing: converged");
  assert.equal(after1.errors.length, 0);
});

test("contestedWinners: with this node's own entries for the rest, it says what the full merge says, per service", () => {
  // Seeded: tables of up to 3 peers over 8 services, each entry kept, moved, re-timed or missing.
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const ips = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
  for (let round = 0; round < 300; round++) {
    const services = Array.from({ length: 8 }, (_, i) => `default/s${i}`);
    const mine: AllocationEntry[] = services
      .filter(() => random(5) > 0)
      .map((service) => ({ service, ips: [ips[random(3)]], pool: "p", since: 100 + random(3) * 10 }));
    const peers: MemberTable[] = ["b", "0", "z"].slice(0, 1 + random(3)).map((node) => ({
      node,
      entries: services
        .filter(() => random(4) > 0)
        .map((service) => {
          const own = mine.find((e) => e.service === service);
          const kind = random(4);
          if (own && kind === 0) return own;
          if (own && kind === 1) return { ...own, since: own.since + (random(3) - 1) * 10 };
          return {
            service,
            ips: [ips[random(3)]],
            pool: random(6) === 0 ? "q" : "p",
            since: 100 + random(3) * 10,
          };
        }),
    }));
    const self = { node: random(2) === 0 ? "a" : "y", entries: mine };
    const merged = mergeAllocations([self, ...peers]).entries;
    const contested = contestedWinners(self, peers);
    const own = new Map(mine.map((e) => [e.service, e]));
    for (const service of services) {
      const fast = contested.get(service) ?? own.get(service);
      assert.deepEqual(fast, merged.get(service), `round ${round}, ${service}`);
    }
    // IPs only (a burst's merge): the same IPs and pool per service, `since` left to a quiet pass.
    const ipsOnly = contestedWinners(self, peers, true);
    for (const service of services) {
      const fast = ipsOnly.get(service) ?? own.get(service);
      const full = merged.get(service);
      assert.deepEqual(
        [fast?.ips, fast?.pool],
        [full?.ips, full?.pool],
        `ips only: round ${round}, ${service}`,
      );
      const kept = own.get(service);
      if (kept && !ipsOnly.has(service))
        assert.ok(
          peers.every((p) =>
            p.entries.every(
              (e) => e.service !== service || (e.pool === kept.pool && e.ips.join() === kept.ips.join()),
            ),
          ),
          `ips only: ${service} left out only when every peer has its IPs`,
        );
    }
  }
});
