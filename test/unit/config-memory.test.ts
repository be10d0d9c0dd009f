// What a loaded config keeps per service, kept small (docs/design.md, "Cost per VIP: memory"): election hashes
// in a compact per-plan store that survives the config worker's structured clone, advertisement lists shared
// between services of one pool and labels, and exact-size arrays.
import { test } from "node:test";
import assert from "node:assert/strict";
import { appended, exact } from "../../lib/arrays";
import { activate, reviveElectionHashes } from "../../lib/daemon/config-state";
import { ElectionHashes, hashRank } from "../../lib/election/election-hashes";
import { advertisementsFor, electionHash } from "../../lib/election/election";
import { ad, docs, parse, pool, service } from "./config-helpers";

test("ElectionHashes: rank by node name, any number of nodes, in any order; ranks order as the hashes", () => {
  const a = new ElectionHashes();
  const b = new ElectionHashes();
  assert.equal(a.rank("node1"), undefined);
  a.setRank("mem-z", 7);
  a.setRank("mem-a", 0);
  b.setRank("mem-a", 3);
  assert.equal(a.rank("mem-z"), 7);
  assert.equal(a.rank("mem-a"), 0, "zero is a rank, not a hole");
  assert.equal(b.rank("mem-a"), 3);
  assert.equal(b.rank("mem-z"), undefined, "a name another plan knows is still unset here");
  assert.equal(a.size, 2);
  assert.equal(b.size, 1);
  a.setRank("mem-z", 8);
  assert.equal(a.size, 2);
  assert.deepEqual(
    new Map(a),
    new Map([
      ["mem-z", 8],
      ["mem-a", 0],
    ]),
  );
  for (let i = 0; i < 300; i++) b.setRank(`big-${i}`, i * 1e12);
  assert.equal(b.size, 301);
  assert.equal(b.rank("big-299"), 299e12);
  // hasRank and compareRanks: what the election's order reads without taking a rank out.
  assert.equal(b.hasRank("big-17"), true);
  assert.equal(b.hasRank("mem-z"), false, "known elsewhere, unset here");
  assert.equal(b.hasRank(`never-seen-${Math.random()}`), false);
  assert.equal(a.hasRank("mem-a"), true, "a rank of zero is set");
  assert.equal(b.compareRanks("big-1", "big-2"), -1);
  assert.equal(b.compareRanks("big-2", "big-1"), 1);
  assert.equal(b.compareRanks("big-2", "big-2"), 0);
  assert.equal(a.compareRanks("mem-a", "mem-z"), -1);
  assert.throws(() => b.compareRanks("big-1", "mem-z"), /no election rank/);
  assert.throws(() => a.compareRanks("mem-a", "big-0"), /no election rank/, "beyond this plan's array");
  // A rank is the first 52 bits: exact, and ordered as the hex text is.
  const hashes = Array.from({ length: 500 }, (_, i) => electionHash(`node${i}`, "198.51.100.1"));
  hashes.push("0".repeat(64), "f".repeat(64), `${"0".repeat(12)}1${"f".repeat(51)}`);
  const byText = [...hashes].sort();
  const byRank = [...hashes].sort((x, y) => hashRank(x) - hashRank(y));
  assert.deepEqual(byRank, byText);
  assert.equal(hashRank("f".repeat(64)), 2 ** 52 - 1);
  assert.throws(() => hashRank("not hex at all"));
});

test("a config from the worker thread (a structured clone) gets working election hashes back", () => {
  const text = docs(
    pool("p", ["198.51.100.0/28"]),
    ad("l2", "  ipAddressPools: [p]"),
    service("s0"),
    service("s1"),
  );
  const outcome = activate(parse(text), undefined, new Date(0));
  assert.ok(outcome.ok);
  const cloned = structuredClone(outcome.active);
  const plan = [...cloned.plans.values()][0];
  assert.ok(plan);
  assert.equal(
    typeof (plan.hashes as Partial<ElectionHashes>).rank,
    "undefined",
    "the clone loses the class",
  );
  reviveElectionHashes(cloned);
  for (const p of cloned.plans.values()) {
    assert.ok(p.hashes instanceof ElectionHashes);
    p.hashes.setRank("node1", 42);
    assert.equal(p.hashes.rank("node1"), 42);
  }
});

test("advertisementsFor: one shared list per pool and service labels, the same answer as filtering afresh", () => {
  const text = docs(
    pool("p", ["198.51.100.0/28"]),
    pool("q", ["198.51.100.16/28"]),
    ad("l2", "  ipAddressPools: [p, q]"),
    ad("only-web", "  ipAddressPools: [p]\n  serviceSelectors:\n  - matchLabels: {app: web}"),
    service("a"),
    service("b"),
    service("web1", { labels: { app: "web" } }),
    service("web2", { labels: { app: "web" } }),
  );
  const config = parse(text).config;
  assert.ok(config);
  const svc = (name: string) => config.services.find((s) => s.name === name);
  const forP = (name: string) => advertisementsFor(config, svc(name)!, "p");
  assert.equal(forP("a"), forP("b"), "same pool, same (no) labels: one array");
  assert.equal(forP("web1"), forP("web2"));
  assert.notEqual(forP("a"), forP("web1"));
  assert.deepEqual(
    forP("a").map((x) => x.name),
    ["l2"],
  );
  assert.deepEqual(
    forP("web1")
      .map((x) => x.name)
      .sort(),
    ["l2", "only-web"],
  );
  assert.deepEqual(
    advertisementsFor(config, svc("web1")!, "q").map((x) => x.name),
    ["l2"],
  );
});

test("exact: a copy of the same entries; every empty array is one frozen array", () => {
  const grown: number[] = [];
  grown.push(1, 2);
  const copy = exact(grown);
  assert.deepEqual(copy, [1, 2]);
  assert.notEqual(copy, grown);
  assert.equal(exact([]), exact([]));
  assert.ok(Object.isFrozen(exact([])));
});

test("appended: a new array with the entries added, the original untouched", () => {
  const base = exact(["a"]);
  const more = appended(base, "b", "c");
  assert.deepEqual(more, ["a", "b", "c"]);
  assert.deepEqual(base, ["a"]);
});
