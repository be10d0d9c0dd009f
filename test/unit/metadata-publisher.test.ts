// The metadata publisher: it must publish exactly when the record it would build differs from the last
// one, while deciding "unchanged" without building the record (the allocation-free comparison).
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { buildMetadata, MetadataPublisher, type MetadataSource } from "../../lib/daemon/metadata-publisher";
import type { MemberMetadata } from "../../lib/gossip/metadata";
import type { InterfaceChoice } from "../../lib/net/interface-choice";
import type { ForeignConflict } from "../../lib/plan/types";
import { planConfig } from "./plan-builders";

const IPS = ["198.51.100.40", "198.51.100.41", "198.51.100.42", "2001:db8::42"];
const active = planConfig(IPS);

interface LocalState {
  choices: Map<string, InterfaceChoice>;
  foreign: Map<string, ForeignConflict>;
  unhealthy: Map<string, string>;
  checked: Set<string>;
  owned: readonly string[];
  released: readonly string[];
}

function fresh(): LocalState {
  return {
    choices: new Map(IPS.map((ip) => [ip, { eligible: true, interfaces: ["eth0"] }])),
    foreign: new Map(),
    unhealthy: new Map(),
    checked: new Set(),
    owned: [],
    released: [],
  };
}

const LABELS = { "kubernetes.io/hostname": "node-a" };

function source(state: LocalState): MetadataSource {
  return {
    labels: LABELS,
    manifestDigest: active.load.digest,
    groups: active.groups,
    local: {
      links: { choice: (ip) => state.choices.get(ip) },
      conflicts: { foreign: state.foreign, isProbing: () => false, probedClearAt: () => undefined },
      health: { unhealthyReason: (ip) => state.unhealthy.get(ip), checked: (ip) => state.checked.has(ip) },
    },
    allocation: { digest: "d1", entries: [] },
    owned: state.owned,
    released: state.released,
    macs: ["02:00:00:00:00:01"],
  };
}

function publisher(): { pub: MetadataPublisher; published: MemberMetadata[] } {
  const published: MemberMetadata[] = [];
  return { pub: new MetadataPublisher((m) => published.push(m)), published };
}

test("publishes the first record, then only changes", () => {
  const { pub, published } = publisher();
  const state = fresh();
  assert.equal(pub.update(source(state)), true);
  assert.deepEqual(published[0]?.eligibility.eligible, [...IPS].sort());
  assert.equal(pub.update(source(state)), false, "unchanged");
  // A new owned array with the same content: the identity check fails, the field comparison catches it.
  state.owned = [];
  assert.equal(pub.update(source(state)), false);
  const rows: Array<[string, (s: LocalState) => void, (m: MemberMetadata) => void]> = [
    [
      "link lost on one IP",
      (s) => s.choices.set(IPS[0] ?? "", { eligible: false, reason: "eth0 is down" }),
      (m) => assert.deepEqual(m.eligibility.ineligible, [{ vip: IPS[0], reason: "eth0 is down" }]),
    ],
    [
      "interface moved",
      (s) => s.choices.set(IPS[1] ?? "", { eligible: true, interfaces: ["eth1"] }),
      (m) => assert.equal(m.eligibility.interfaces?.[IPS[1] ?? ""], "eth1"),
    ],
    [
      "foreign device found",
      (s) => s.foreign.set(IPS[2] ?? "", { mac: "02:00:00:00:00:99", since: new Date(0), nextProbeAt: 0 }),
      (m) => assert.match(m.eligibility.ineligible.at(-1)?.reason ?? "", /02:00:00:00:00:99/),
    ],
    [
      "health check failing",
      (s) => {
        s.checked.add(IPS[3] ?? "");
        s.unhealthy.set(IPS[3] ?? "", "health check tcp:80 failing: refused");
      },
      (m) => assert.equal(m.eligibility.ineligible.at(-1)?.reason, "health check tcp:80 failing: refused"),
    ],
    ["now holds a group", (s) => (s.owned = [IPS[0] ?? ""]), (m) => assert.deepEqual(m.owned, [IPS[0]])],
    ["released it", (s) => (s.released = [IPS[0] ?? ""]), (m) => assert.deepEqual(m.released, [IPS[0]])],
  ];
  for (const [what, change, check] of rows) {
    change(state);
    assert.equal(pub.update(source(state)), true, what);
    check(published.at(-1) as MemberMetadata);
    assert.equal(pub.update(source(state)), false, `${what}: once`);
  }
  // A checked service that is healthy is the slow path with an unchanged answer.
  state.checked.add(IPS[0] ?? "");
  assert.equal(pub.update(source(state)), false);
});

test("property: update publishes exactly when the built record differs from the last published", () => {
  const mutation = fc.oneof(
    fc.record({
      kind: fc.constant("link" as const),
      ip: fc.constantFrom(...IPS),
      up: fc.boolean(),
      itf: fc.constantFrom("eth0", "eth1"),
    }),
    fc.record({ kind: fc.constant("conflict" as const), ip: fc.constantFrom(...IPS), on: fc.boolean() }),
    fc.record({
      kind: fc.constant("health" as const),
      ip: fc.constantFrom(...IPS),
      state: fc.constantFrom("none", "up", "down", "pending"),
    }),
    fc.record({ kind: fc.constant("owned" as const), ips: fc.subarray(IPS) }),
    fc.record({ kind: fc.constant("released" as const), ips: fc.subarray(IPS) }),
  );
  fc.assert(
    fc.property(fc.array(mutation, { maxLength: 25 }), (mutations) => {
      const { pub, published } = publisher();
      const state = fresh();
      pub.update(source(state));
      for (const m of mutations) {
        if (m.kind === "link")
          state.choices.set(
            m.ip,
            m.up ? { eligible: true, interfaces: [m.itf] } : { eligible: false, reason: `${m.itf} down` },
          );
        else if (m.kind === "conflict") {
          if (m.on) state.foreign.set(m.ip, { mac: "02:00:00:00:00:99", since: new Date(0), nextProbeAt: 0 });
          else state.foreign.delete(m.ip);
        } else if (m.kind === "health") {
          if (m.state === "none") state.checked.delete(m.ip);
          else state.checked.add(m.ip);
          if (m.state === "up" || m.state === "none") state.unhealthy.delete(m.ip);
          else state.unhealthy.set(m.ip, `check ${m.state}`);
        } else if (m.kind === "owned") state.owned = [...m.ips].sort();
        else state.released = [...m.ips].sort();
        const expected = buildMetadata(source(state));
        const last = published.at(-1);
        const differs = JSON.stringify(expected) !== JSON.stringify(last);
        assert.equal(pub.update(source(state)), differs);
        assert.equal(JSON.stringify(published.at(-1)), JSON.stringify(expected));
      }
    }),
    { seed: 13, numRuns: 300 },
  );
});

test("withheld eligibility: reported as not eligible with its reason (never over a real reason), published on change", () => {
  const { pub, published } = publisher();
  const state = fresh();
  state.choices.set(IPS[1] ?? "", { eligible: false, reason: "eth0 is down" });
  const starting = { ...source(state), withheld: { all: "starting: not ready yet", ips: new Map() } };
  assert.equal(pub.update(starting), true);
  assert.deepEqual(published.at(-1)?.eligibility.eligible, []);
  assert.deepEqual(
    published.at(-1)?.eligibility.ineligible.map((x) => [x.vip, x.reason]),
    IPS.map((ip) => [ip, ip === IPS[1] ? "eth0 is down" : "starting: not ready yet"]),
  );
  assert.equal(pub.update(starting), false, "unchanged");
  const one = { ...source(state), withheld: { ips: new Map([[IPS[0] ?? "", "taking over from node-b"]]) } };
  assert.equal(pub.update(one), true);
  assert.deepEqual(
    published.at(-1)?.eligibility.ineligible.map((x) => x.vip),
    [IPS[0], IPS[1]],
  );
  assert.equal(pub.update(one), false);
  assert.equal(pub.update(source(state)), true, "nothing withheld any more");
  assert.deepEqual(published.at(-1), buildMetadata(source(state)));
  assert.deepEqual(
    published.at(-1)?.eligibility.ineligible.map((x) => x.vip),
    [IPS[1]],
  );
});

test("a change of the held list alone goes out at most once per interval; any other change at once", () => {
  const published: MemberMetadata[] = [];
  const pub = new MetadataPublisher((m) => published.push(m), { heldListIntervalMs: 500 });
  const state = fresh();
  assert.equal(pub.update(source(state), 1000), true);
  assert.equal(pub.dueAt, undefined);

  state.owned = ["198.51.100.40"];
  assert.equal(pub.update(source(state), 1100), false, "held list only, 100 ms after the last");
  assert.equal(pub.dueAt, 1500, "due when the interval ends");
  state.owned = ["198.51.100.40", "198.51.100.41"];
  assert.equal(pub.update(source(state), 1300), false);
  assert.equal(pub.dueAt, 1500, "still the same due time");

  // Eligibility changes are never held back, and carry the held list as it is now.
  state.choices.set("198.51.100.42", { eligible: false, reason: "link down" });
  assert.equal(pub.update(source(state), 1350), true, "eligibility change");
  assert.equal(pub.dueAt, undefined);
  assert.deepEqual(published.at(-1)?.owned, ["198.51.100.40", "198.51.100.41"]);

  // released (hand-overs) is not held back either.
  state.released = ["198.51.100.40"];
  state.owned = ["198.51.100.41"];
  assert.equal(pub.update(source(state), 1400), true, "a release");

  state.owned = [];
  assert.equal(pub.update(source(state), 1500), false);
  assert.equal(pub.dueAt, 1900);
  assert.equal(pub.update(source(state), 1900), true, "due: published");
  assert.deepEqual(published.at(-1)?.owned, []);
  assert.equal(pub.update(source(state), 1901), false, "unchanged after");
  assert.equal(pub.dueAt, undefined);
  assert.equal(published.length, 4);
});

test("a table whose only change is an agreed (earlier) since is published; the same since in a new array is not", () => {
  const { pub, published } = publisher();
  const state = fresh();
  const entry = (since: number) => ({ service: "default/web", ips: ["198.51.100.40"], pool: "p", since });
  const withTable = (entries: ReturnType<typeof entry>[]): MetadataSource => ({
    ...source(state),
    allocation: { digest: "same-ips", entries },
  });
  assert.equal(pub.update(withTable([entry(2000)])), true);
  assert.equal(pub.update(withTable([entry(2000)])), false, "equal since, new objects: unchanged");
  assert.equal(pub.update(withTable([entry(1000)])), true, "agreement settled an earlier since");
  assert.equal(published.at(-1)?.allocation?.entries[0]?.since, 1000);
  assert.equal(pub.update(withTable([entry(1000)])), false);
});
