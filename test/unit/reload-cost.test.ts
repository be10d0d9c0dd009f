import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { entriesFor, mergeAllocations, type AllocationEntry } from "../../lib/alloc/agreement";
import { allocate } from "../../lib/alloc/allocator";
import { readAllocationState } from "../../lib/alloc/state-file";
import { AllocationSync, keepsAllocation } from "../../lib/daemon/allocation-sync";
import { activate, inheritElectionHashes, type ActiveConfig } from "../../lib/daemon/config-state";
import type { MemberView } from "../../lib/gossip/memberlist";
import type { Logger } from "../../lib/daemon/log";
import { ad, docs, parse, pool, service } from "./config-helpers";

const silent: Logger = { log: () => {} };

/** Services s0..s(n-1) auto-assigned from one pool, allocated from scratch. */
function configured(n: number): ActiveConfig {
  const text = docs(
    pool("p", ["198.51.100.0/28"]),
    ad("l2", "  ipAddressPools: [p]"),
    ...Array.from({ length: n }, (_, i) => service(`s${i}`)),
  );
  const outcome = activate(parse(text), undefined, new Date(0));
  if (!outcome.ok) throw new Error(outcome.errors.join("\n"));
  return outcome.active;
}

const table = (active: ActiveConfig, since: number, drop: string[] = []): AllocationEntry[] =>
  entriesFor(active.allocation.assignments, new Map(), since).filter((e) => !drop.includes(e.service));

test("keepsAllocation: true exactly when re-running the allocator on the merged table changes nothing", () => {
  const active = configured(3);
  const mine = table(active, 100);
  const moved = (service: string, ip: string, since: number): AllocationEntry => ({
    service,
    ips: [ip],
    pool: "p",
    since,
  });
  const cases: { name: string; peer: AllocationEntry[]; keeps: boolean }[] = [
    { name: "peer agrees", peer: table(active, 50), keeps: true },
    // The usual reload: this node loaded a new service first, the peer has not yet.
    { name: "peer lacks a service this node has", peer: table(active, 50, ["default/s2"]), keeps: true },
    {
      name: "peer knows a service the config does not define",
      peer: [moved("default/gone", "198.51.100.9", 1)],
      keeps: true,
    },
    {
      name: "peer allocated a service earlier, elsewhere",
      peer: [moved("default/s1", "198.51.100.9", 1)],
      keeps: false,
    },
    {
      name: "peer's later allocation elsewhere loses",
      peer: [moved("default/s1", "198.51.100.9", 500)],
      keeps: true,
    },
  ];
  for (const c of cases) {
    const merged = mergeAllocations([
      { node: "a", entries: mine },
      { node: "b", entries: c.peer },
    ]);
    assert.equal(keepsAllocation(active, merged.entries), c.keeps, c.name);
    const rerun = allocate(active.config, merged.state).assignments;
    if (c.keeps) assert.deepEqual(rerun, active.allocation.assignments, `${c.name}: the allocator agrees`);
    else assert.notDeepEqual(rerun, active.allocation.assignments, `${c.name}: the allocator moves it`);
  }
});

test("keepsAllocation: a service this node could not allocate but a peer did is not kept", () => {
  // Two addresses, three services: s2 fails here; a peer that allocated it earlier must be adopted.
  const text = docs(
    pool("p", ["198.51.100.0/31"]),
    ad("l2", "  ipAddressPools: [p]"),
    ...[0, 1, 2].map((i) => service(`s${i}`)),
  );
  const outcome = activate(parse(text), undefined, new Date(0));
  assert.ok(outcome.ok);
  const active = outcome.active;
  assert.equal(active.allocation.errors.length, 1);
  const peer: AllocationEntry[] = [{ service: "default/s2", ips: ["198.51.100.0"], pool: "p", since: 1 }];
  const merged = mergeAllocations([
    { node: "a", entries: table(active, 100) },
    { node: "b", entries: peer },
  ]);
  assert.equal(keepsAllocation(active, merged.entries), false);
});

test("AllocationSync.adoptPeers: a peer that has not loaded the edit yet costs no new config, only `since`", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vipd-sync-"));
  try {
    const sync = new AllocationSync(dir, silent, "test");
    const active = configured(3);
    sync.loaded(active);
    const view = (entries: AllocationEntry[], digest: string): MemberView[] => [
      {
        name: "b",
        state: "alive",
        metadata: { allocation: { digest, entries } },
      } as unknown as MemberView,
    ];
    const before = sync.digest;
    const entries = sync.entries;
    // In a burst only other IPs count: the peer's earlier `since` waits for a quiet pass.
    assert.equal(
      sync.adoptPeers(active, "a", view(table(active, 1, ["default/s2"]), "older"), false),
      undefined,
    );
    assert.equal(sync.entries, entries, "no since settled in a burst: the same table");
    assert.equal(sync.adoptPeers(active, "a", view(table(active, 1, ["default/s2"]), "older")), undefined);
    assert.equal(sync.digest, before);
    assert.deepEqual(
      sync.entries.map((e) => [e.service, e.since < 100]),
      [
        ["default/s0", true],
        ["default/s1", true],
        ["default/s2", false],
      ],
      "the earliest since of each kept entry is adopted",
    );
    // A peer that allocated a service elsewhere, earlier: adopted, with a new config.
    const moved = table(active, 0).map((e) =>
      e.service === "default/s1" ? { ...e, ips: ["198.51.100.9"] } : e,
    );
    const adopted = sync.adoptPeers(active, "a", view(moved, "moved"));
    assert.ok(adopted);
    assert.deepEqual(adopted.active.allocation.assignments.find((a) => a.service === "default/s1")?.ips, [
      "198.51.100.9",
    ]);
    await sync.flush();
    assert.deepEqual(
      readAllocationState(join(dir, "allocations.json")).state?.assignments["default/s1"]?.ips,
      ["198.51.100.9"],
      "the adopted allocation is written (off the main thread)",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("AllocationSync.adoptPeers: in a burst, a peer still on this node's table from before its load is not compared", () => {
  const dir = mkdtempSync(join(tmpdir(), "vipd-sync-"));
  try {
    const sync = new AllocationSync(dir, silent, "test");
    const before = configured(2);
    sync.loaded(before);
    const old = { digest: sync.digest, entries: sync.entries };
    const peer = (name: string, allocation: { digest: string; entries: readonly AllocationEntry[] }) =>
      ({ name, state: "alive", metadata: { allocation } }) as unknown as MemberView;
    // The reload: this node loads a third service first; both peers still publish the table from before.
    const after = configured(3);
    sync.loaded(after);
    assert.notEqual(sync.digest, old.digest);
    const behind = [peer("b", old), peer("c", old)];
    assert.equal(sync.adoptPeers(after, "a", behind, false), undefined);
    assert.equal(sync.comparisons, 0, "a burst does not compare tables it already built on");
    // A quiet pass compares them (to settle `since`), and so does a burst once a peer has a table of its own.
    assert.equal(sync.adoptPeers(after, "a", behind), undefined);
    assert.equal(sync.comparisons, 1);
    const elsewhere = old.entries.map((e) =>
      e.service === "default/s1" ? { ...e, ips: ["198.51.100.9"], since: 0 } : e,
    );
    const adopted = sync.adoptPeers(
      after,
      "a",
      [peer("b", old), peer("c", { digest: "elsewhere", entries: elsewhere })],
      false,
    );
    assert.equal(sync.comparisons, 2);
    assert.deepEqual(adopted?.active.allocation.assignments.find((a) => a.service === "default/s1")?.ips, [
      "198.51.100.9",
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("inheritElectionHashes: a reloaded config keeps the hashes of the groups it elects by the same IP", () => {
  const before = configured(2);
  const after = configured(3);
  let n = 0;
  for (const plan of before.plans.values()) plan.hashes.setRank("node1", 1000 + n++);
  inheritElectionHashes(before, after);
  const got = [...after.plans.values()].map((p) => [p.group.electionIp, p.hashes.rank("node1") ?? null]);
  assert.deepEqual(got, [
    ["198.51.100.0", 1000],
    ["198.51.100.1", 1001],
    ["198.51.100.2", null],
  ]);
});
