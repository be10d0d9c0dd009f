// Table tests for the node planner (lib/plan/planner.ts): one block per decision it makes, each on an
// explicit snapshot, plus a property test over random views. No root, no clock, no sleeps.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  endFailover,
  HANDOVER_WINDOW_MS,
  newPlannerMemory,
  plan,
  PROBE_RESULT_VALID_MS,
} from "../../lib/plan/planner";
import {
  HANDOVER_DRAIN_MS,
  HANDOVER_HOLD_MAX_MS,
  LEGACY_ANSWER_WAIT_MS,
  TAKEOVER_WAIT_MAX_MS,
} from "../../lib/plan/handover";
import { answerHeldClaim } from "../../lib/plan/held-claims";
import { peersKnown } from "../../lib/plan/readiness";
import { NEW_GROUP_PEER_WAIT_MS } from "../../lib/plan/new-groups";
import type { AddressDivergence, Plan, PlannerMemory, Snapshot } from "../../lib/plan/types";
import { localReport, STARTING_REASON } from "../../lib/plan/eligibility";
import { divergenceText, groupHolding } from "../../lib/plan/holding";
import type { InterfaceChoice } from "../../lib/net/interface-choice";
import { isLive } from "../../lib/election/election";
import { member, ON_ETH0, planConfig, ranked, snapshot } from "./plan-builders";

const IP = "198.51.100.10";
const IP6 = "2001:db8::10";
const NAMES = ["node-a", "node-b", "node-c"];
const [FIRST = "", SECOND = "", THIRD = ""] = ranked(IP, NAMES);
const active = planConfig([IP]);
const everyone = (states: Record<string, "alive" | "suspect" | "dead" | "left"> = {}, extra = {}) =>
  NAMES.map((n) => member(n, active, { state: states[n] ?? "alive", ...extra }));

function run(s: Snapshot, memory: PlannerMemory = newPlannerMemory()): Plan & { memory: PlannerMemory } {
  return { ...plan(s, memory), memory };
}
const owner = (m: PlannerMemory, ip = IP): string | undefined => m.ownership.get(ip)?.owner;

test("election: the best-ranked eligible member owns the IP; only it wants the address", () => {
  for (const self of NAMES) {
    const p = run(snapshot(active, { self, members: everyone() }));
    assert.equal(owner(p.memory), FIRST, `as seen by ${self}`);
    assert.deepEqual([...p.addresses], self === FIRST ? [[IP, "eth0"]] : []);
    // Claimed in gossip once the address is in place (the next pass), not when decided.
    assert.deepEqual(p.owned, []);
    const next = run(snapshot(active, { self, members: everyone(), held: p.addresses }), p.memory);
    assert.deepEqual(next.owned, self === FIRST ? [IP] : []);
  }
});

test("election: a dead or left owner is skipped; a suspect one keeps the IP", () => {
  const rows: Array<[Record<string, "alive" | "suspect" | "dead" | "left">, string]> = [
    [{}, FIRST],
    [{ [FIRST]: "suspect" }, FIRST],
    [{ [FIRST]: "dead" }, SECOND],
    [{ [FIRST]: "left" }, SECOND],
    [{ [FIRST]: "dead", [SECOND]: "dead" }, THIRD],
  ];
  for (const [states, expected] of rows) {
    const self = expected;
    const p = run(snapshot(active, { self, members: everyone(states) }));
    assert.equal(owner(p.memory), expected, JSON.stringify(states));
    assert.ok(p.addresses.has(IP));
  }
});

test("readiness: before it the ranking is computed and shown, but nothing is owned or held", () => {
  const memory = newPlannerMemory();
  const p = run(snapshot(active, { self: FIRST, members: everyone(), ready: false }), memory);
  assert.equal(p.addresses.size, 0);
  assert.equal(owner(memory), undefined);
  assert.equal(memory.elections.get(IP)?.owner, FIRST, "the election result is kept for the status");
  assert.equal(p.ownerChanges.length, 0);
  const q = run(snapshot(active, { self: FIRST, members: everyone(), ready: true }), memory);
  assert.deepEqual([...q.addresses], [[IP, "eth0"]]);
  assert.deepEqual(
    q.ownerChanges.map((c) => [c.from, c.to]),
    [[undefined, FIRST]],
  );
  assert.ok(q.events.some((e) => e.reason === "nodeAssigned" && e.fields.interface === "eth0"));
});

test("events: an IP this node takes or gives up is logged at info; one moving between two peers is quiet", () => {
  const rows: Array<[self: string, quiet: boolean]> = [
    [FIRST, false], // the old owner: it stops announcing
    [SECOND, false], // the new owner
    [THIRD, true], // neither: another node's business, logged at debug (still a recent event)
  ];
  for (const [self, quiet] of rows) {
    const memory = newPlannerMemory();
    run(snapshot(active, { self, members: everyone() }), memory);
    const after = run(snapshot(active, { self, members: everyone({ [FIRST]: "dead" }) }), memory);
    const assigned = after.events.filter((e) => e.reason === "nodeAssigned");
    assert.equal(assigned.length, 1, `as seen by ${self}`);
    assert.equal(assigned[0]?.fields.to, SECOND);
    assert.equal(assigned[0]?.quiet === true, quiet, `as seen by ${self}`);
  }
});

test("election: after a death every group ranks the dead member last, with shared, frozen rankings", () => {
  const ips = Array.from({ length: 40 }, (_, i) => `198.51.100.${i + 1}`);
  const config = planConfig(ips);
  const members = (states: Record<string, "alive" | "dead">) =>
    NAMES.map((n) => member(n, config, { state: states[n] ?? "alive" }));
  const memory = newPlannerMemory();
  plan(snapshot(config, { self: FIRST, members: members({}) }), memory);
  const dead = NAMES[2] ?? "";
  const now = 200_000;
  const gone = members({ [dead]: "dead" });
  plan(
    snapshot(config, { self: FIRST, members: gone, now, events: [{ kind: "dead", member: dead, at: now }] }),
    memory,
  );
  plan(snapshot(config, { self: FIRST, members: gone, now: now + 50 }), memory);
  const rankings = ips.map((ip) => memory.elections.get(ip)?.ranking ?? []);
  for (const [i, ranking] of rankings.entries()) {
    const live = ranked(ips[i] ?? "", NAMES).filter((n) => n !== dead);
    assert.deepEqual(
      ranking.map((v) => [v.node, v.skipped]),
      [...live.map((n) => [n, undefined]), [dead, "member is dead"]],
      ips[i],
    );
    assert.ok(Object.isFrozen(ranking));
  }
  // Two live members give two orders: 40 groups share two arrays instead of building 40.
  assert.equal(new Set(rankings).size, 2);
});

test("election: with more members than rankings are shared for, each group's ranking is still right", () => {
  const names = Array.from({ length: 10 }, (_, i) => `node-${String.fromCharCode(97 + i)}`);
  const ips = Array.from({ length: 20 }, (_, i) => `198.51.100.${i + 1}`);
  const config = planConfig(ips);
  const memory = newPlannerMemory();
  const self = names[0] ?? "";
  plan(snapshot(config, { self, members: names.map((n) => member(n, config)) }), memory);
  for (const ip of ips)
    assert.deepEqual(
      memory.elections.get(ip)?.ranking.map((v) => v.node),
      ranked(ip, names),
      ip,
    );
});

test("quorum: lost releases every VIP with a reason; regained takes them back; events only on change", () => {
  const quorum = { mode: "majority" as const, expect: 3 };
  const memory = newPlannerMemory();
  const held = new Map([[IP, "eth0"]]);
  const rows: Array<{ states: Record<string, "alive" | "suspect" | "dead">; ok: boolean; event?: string }> = [
    { states: {}, ok: true },
    { states: { [SECOND]: "dead" }, ok: true },
    // Suspects do not count: a node that sees every peer suspect is the one cut off.
    { states: { [SECOND]: "suspect", [THIRD]: "suspect" }, ok: false, event: "quorumLost" },
    { states: { [SECOND]: "dead", [THIRD]: "dead" }, ok: false },
    { states: { [THIRD]: "dead" }, ok: true, event: "quorumRegained" },
  ];
  for (const row of rows) {
    const p = run(snapshot(active, { self: FIRST, members: everyone(row.states), quorum, held }), memory);
    const label = JSON.stringify(row.states);
    assert.equal(p.quorum.ok, row.ok, label);
    assert.equal(p.addresses.has(IP), row.ok, label);
    if (!row.ok) {
      assert.match(memory.elections.get(IP)?.reason ?? "", /no quorum/, label);
      assert.deepEqual(p.withdrawals, [IP], label);
    }
    const quorumEvents = p.events.filter((e) => e.reason.startsWith("quorum")).map((e) => e.reason);
    assert.deepEqual(quorumEvents, row.event ? [row.event] : [], label);
  }
});

test("non-revertive: a claimant keeps the IP against a better-ranked node; failback hands it back", () => {
  const nonRevertive = planConfig([IP], { failback: false });
  const rows: Array<{ cfg: typeof active; failback: boolean; expected: string }> = [
    { cfg: nonRevertive, failback: true, expected: SECOND },
    { cfg: active, failback: false, expected: SECOND },
    { cfg: active, failback: true, expected: FIRST },
  ];
  for (const row of rows) {
    const ms = NAMES.map((n) => member(n, row.cfg, n === SECOND ? { owned: [IP] } : {}));
    const p = run(snapshot(row.cfg, { self: FIRST, members: ms, failback: row.failback }));
    assert.equal(owner(p.memory), row.expected, `failback=${row.failback}`);
  }
  // Stickiness without any claim in gossip: the remembered owner stays while it is a candidate.
  const memory = newPlannerMemory();
  const plain = NAMES.map((n) => member(n, nonRevertive));
  run(snapshot(nonRevertive, { self: SECOND, members: plain.filter((m) => m.name !== FIRST) }), memory);
  assert.equal(owner(memory), SECOND);
  const back = run(
    snapshot(nonRevertive, { self: SECOND, members: plain, held: new Map([[IP, "eth0"]]) }),
    memory,
  );
  assert.equal(owner(memory), SECOND, "the returning better-ranked node does not take it back");
  assert.ok(back.addresses.has(IP));
});

test("handover window: a takeover is probed unless a member held it or failed recently", () => {
  const memory = (): PlannerMemory => newPlannerMemory();
  const base = { self: FIRST, probe: true } as const;
  // A fresh IPv4 takeover with no history: probe first, do not hold, do not claim.
  const fresh = run(snapshot(active, { ...base, members: everyone() }));
  assert.deepEqual(fresh.probes, [{ ip: IP, interfaces: ["eth0"], cause: "takeover" }]);
  assert.equal(fresh.addresses.size, 0);
  assert.deepEqual(fresh.owned, []);
  // Already probing: no second probe.
  assert.deepEqual(
    run(snapshot(active, { ...base, members: everyone(), probing: new Set([IP]) })).probes,
    [],
  );
  // A clean probe within PROBE_RESULT_VALID_MS: take it; an older one: probe again.
  const now = 100_000;
  const clean = run(
    snapshot(active, { ...base, now, members: everyone(), clearAt: new Map([[IP, now - 10]]) }),
  );
  assert.ok(clean.addresses.has(IP));
  assert.deepEqual(clean.owned, [], "claimed only once the address is in place");
  const passed = memory();
  passed.lastPassAt = now - 1;
  const old = run(
    snapshot(active, {
      ...base,
      now,
      members: everyone(),
      clearAt: new Map([[IP, now - PROBE_RESULT_VALID_MS - 1]]),
    }),
    passed,
  );
  assert.equal(old.probes.length, 1, "a pass ran since the result");
  // The first pass after a clean probe takes the IP however late it runs; a pass after that one, too late,
  // probes again.
  const late = memory();
  run(snapshot(active, { ...base, now: now - 2 * PROBE_RESULT_VALID_MS, members: everyone() }), late);
  const stale = new Map([[IP, now - PROBE_RESULT_VALID_MS - 1]]);
  const first = run(snapshot(active, { ...base, now, members: everyone(), clearAt: stale }), late);
  assert.ok(first.addresses.has(IP), "the pass right after the probe");
  assert.deepEqual(first.probes, []);
  const second = run(snapshot(active, { ...base, now: now + 1, members: everyone(), clearAt: stale }), late);
  assert.equal(second.probes.length, 1, "a later pass, the result too old");
  // A member seen claiming it (or releasing it) within the window: a handover, no probe.
  for (const extra of [{ owned: [IP] }, { released: [IP] }]) {
    const m = memory();
    const claimed = NAMES.map((n) => member(n, active, n === SECOND ? extra : {}));
    run(snapshot(active, { ...base, now, members: claimed }), m);
    const later = run(
      snapshot(active, { ...base, now: now + HANDOVER_WINDOW_MS - 1, members: everyone() }),
      m,
    );
    assert.deepEqual(later.probes, [], JSON.stringify(extra));
    assert.ok(later.addresses.has(IP));
    const expired = run(
      snapshot(active, { ...base, now: now + HANDOVER_WINDOW_MS + 1, members: everyone() }),
      m,
    );
    assert.equal(expired.probes.length, 1);
  }
  // IPv6 is probed the same way (a DAD-style Neighbor Solicitation); an IP already held is not.
  const v6 = planConfig([IP6]);
  const [first6 = ""] = ranked(IP6, NAMES);
  const p6 = run(snapshot(v6, { self: first6, probe: true, members: NAMES.map((n) => member(n, v6)) }));
  assert.deepEqual(p6.probes, [{ ip: IP6, interfaces: ["eth0"], cause: "takeover" }]);
  assert.equal(p6.addresses.has(IP6), false);
  const held = run(snapshot(active, { ...base, members: everyone(), held: new Map([[IP, "eth0"]]) }));
  assert.deepEqual(held.probes, []);
});

test("handover window: after the owner fails, the next node takes over without a probe", () => {
  const m = newPlannerMemory();
  run(snapshot(active, { self: SECOND, probe: true, members: everyone(), now: 1_000 }), m);
  assert.equal(owner(m), FIRST);
  const failed = run(
    snapshot(active, {
      self: SECOND,
      probe: true,
      now: 2_000,
      members: everyone({ [FIRST]: "dead" }),
      events: [{ kind: "dead", member: FIRST, at: 1_500 }],
    }),
    m,
  );
  assert.equal(owner(m), SECOND);
  assert.deepEqual(failed.probes, []);
  assert.ok(failed.addresses.has(IP));
  assert.equal(endFailover(m, IP), 1_500, "the failure time feeds the failover histogram");
  assert.equal(endFailover(m, IP), undefined, "and ends the window");
  // A leave counts as a failure too; without either the takeover (of a never-claimed IP) is probed.
  const left = newPlannerMemory();
  run(snapshot(active, { self: SECOND, probe: true, members: everyone(), now: 1_000 }), left);
  const after = run(
    snapshot(active, {
      self: SECOND,
      probe: true,
      now: 2_000,
      members: everyone({ [FIRST]: "left" }),
      events: [{ kind: "leave", member: FIRST, at: 1_900 }],
    }),
    left,
  );
  assert.deepEqual(after.probes, []);
});

test("re-announce after a member (re)appears: only IPs held before this pass, after deciding", () => {
  const held = new Map([[IP, "eth0"]]);
  const rows: Array<{ kind: "join" | "alive" | "suspect" | "metadata"; ready: boolean; announced: boolean }> =
    [
      { kind: "join", ready: true, announced: true },
      { kind: "alive", ready: true, announced: true },
      { kind: "suspect", ready: true, announced: false },
      { kind: "metadata", ready: true, announced: false },
      { kind: "join", ready: false, announced: false },
    ];
  for (const row of rows) {
    const p = run(
      snapshot(active, {
        self: FIRST,
        members: everyone(),
        held,
        ready: row.ready,
        events: [{ kind: row.kind, member: SECOND, at: 1 }],
      }),
    );
    const expected = row.announced
      ? [{ ips: [IP], cause: "a member joined or came back", routine: true }]
      : [];
    assert.deepEqual(p.announcements, expected, JSON.stringify(row));
  }
  // The node that loses the IP in this pass says nothing: the winner has the last word.
  const loser = run(
    snapshot(active, {
      self: SECOND,
      members: everyone(),
      held,
      events: [{ kind: "join", member: FIRST, at: 1 }],
    }),
  );
  assert.deepEqual(loser.announcements, []);
  assert.deepEqual(loser.withdrawals, [IP]);
  // A takeover in this pass is not re-announced (the address add brings its own burst).
  const fresh = run(
    snapshot(active, { self: FIRST, members: everyone(), events: [{ kind: "join", member: SECOND, at: 1 }] }),
  );
  assert.deepEqual(fresh.announcements, []);
});

test("contested: a rival claim is logged once; when the rival lets go the winner announces again", () => {
  const m = newPlannerMemory();
  const held = new Map([[IP, "eth0"]]);
  const rival = NAMES.map((n) => member(n, active, n === SECOND ? { owned: [IP] } : {}));
  const first = run(snapshot(active, { self: FIRST, members: rival, held }), m);
  assert.deepEqual(
    first.events.filter((e) => e.reason === "ownershipContested").map((e) => e.level),
    ["log"],
  );
  const again = run(snapshot(active, { self: FIRST, members: rival, held }), m);
  assert.equal(again.events.filter((e) => e.reason === "ownershipContested").length, 0);
  assert.deepEqual(again.announcements, []);
  const released = run(snapshot(active, { self: FIRST, members: everyone(), held }), m);
  assert.deepEqual(released.announcements, [{ ips: [IP], cause: `${SECOND} released it` }]);
  const quiet = run(snapshot(active, { self: FIRST, members: everyone(), held }), m);
  assert.deepEqual(quiet.announcements, []);
});

test("conflicts: a foreign device found on an IP makes this node ineligible and is re-probed when due", () => {
  const now = 50_000;
  const foreign = new Map([[IP, { mac: "02:00:00:00:00:99", since: new Date(0), nextProbeAt: now + 1 }]]);
  const p = run(snapshot(active, { self: FIRST, members: everyone(), foreign, now }));
  assert.equal(owner(p.memory), SECOND, "the next node takes it");
  assert.equal(p.addresses.size, 0);
  const skipped = p.memory.elections.get(IP)?.ranking.find((v) => v.node === FIRST)?.skipped ?? "";
  assert.match(skipped, /02:00:00:00:00:99/);
  assert.deepEqual(p.probes, [], "not due yet");
  const due = run(snapshot(active, { self: FIRST, members: everyone(), foreign, now: now + 1 }));
  assert.deepEqual(due.probes, [{ ip: IP, interfaces: ["eth0"], cause: "reprobe" }]);
  const inFlight = run(
    snapshot(active, { self: FIRST, members: everyone(), foreign, now: now + 1, probing: new Set([IP]) }),
  );
  assert.deepEqual(inFlight.probes, []);
});

test("conflicts on held IPs: members get one re-announce, foreign devices are reported once", () => {
  const m = newPlannerMemory();
  const held = new Map([[IP, "eth0"]]);
  const context = {
    held,
    ready: true,
    memberState: (name: string) => (name === SECOND ? "alive" : "dead"),
    knownForeignMac: undefined,
    electionIp: IP,
  };
  const byMember = { ip: IP, mac: "02:00:00:00:00:02", origin: { kind: "member" as const, member: SECOND } };
  assert.equal(answerHeldClaim(byMember, context, m).kind, "reannounce");
  assert.equal(answerHeldClaim(byMember, context, m).kind, "ignore", "answered once per member");
  const deadMember = { ...byMember, origin: { kind: "member" as const, member: THIRD } };
  assert.equal(answerHeldClaim(deadMember, context, m).kind, "ignore");
  assert.equal(answerHeldClaim({ ...byMember, origin: { kind: "self" } }, context, m).kind, "ignore");
  assert.equal(answerHeldClaim(byMember, { ...context, held: new Map() }, newPlannerMemory()).kind, "ignore");
  const foreign = { ip: IP, mac: "02:00:00:00:00:99", origin: { kind: "foreign" as const } };
  const first = answerHeldClaim(foreign, context, m);
  assert.ok(first.kind === "foreign" && first.event?.reason === "addressConflict" && first.announcement);
  const repeat = answerHeldClaim(foreign, { ...context, knownForeignMac: foreign.mac }, m);
  assert.deepEqual(repeat, { kind: "foreign" });
  // The member answer is forgotten once this node no longer holds the IP.
  run(snapshot(active, { self: SECOND, members: everyone(), held }), m);
  assert.equal(m.memberClaimsAnswered.size, 0);
});

test("health: a failing check on this node hands the IP to the next node", () => {
  const unhealthy = (ip: string) => (ip === IP ? "health check tcp:80 failing: refused" : undefined);
  const p = run(snapshot(active, { self: FIRST, members: everyone(), unhealthy }));
  assert.equal(owner(p.memory), SECOND);
  assert.equal(p.addresses.size, 0);
  const verdict = p.memory.elections.get(IP)?.ranking.find((v) => v.node === FIRST);
  assert.equal(verdict?.skipped, "health check tcp:80 failing: refused");
});

test("links: no usable interface here means not eligible; the interface chosen is the one held", () => {
  const none = run(
    snapshot(active, {
      self: FIRST,
      members: everyone(),
      choice: () => ({ eligible: false, reason: "no interface has 198.51.100.10 in its subnet" }),
    }),
  );
  assert.equal(owner(none.memory), SECOND);
  const bond = run(
    snapshot(active, {
      self: FIRST,
      members: everyone(),
      choice: () => ({ eligible: true, interfaces: ["bond0", "eth1"] }),
    }),
  );
  assert.deepEqual([...bond.addresses], [[IP, "bond0"]]);
});

test("releases: an IP this node stops claiming is gossiped as released for the handover window", () => {
  const m = newPlannerMemory();
  const held = new Map([[IP, "eth0"]]);
  run(snapshot(active, { self: FIRST, members: everyone(), now: 1_000, held }), m);
  const lost = run(
    snapshot(active, { self: FIRST, members: everyone(), now: 2_000, unhealthy: () => "down", held }),
    m,
  );
  assert.deepEqual(lost.released, [IP]);
  const later = run(
    snapshot(active, {
      self: FIRST,
      members: everyone(),
      now: 2_000 + HANDOVER_WINDOW_MS + 1,
      unhealthy: () => "down",
    }),
    m,
  );
  assert.deepEqual(later.released, []);
});

test("readiness helper: every other alive member is known with metadata", () => {
  const meta = {};
  assert.equal(peersKnown([{ name: "a", state: "alive" }], "a"), false);
  assert.equal(
    peersKnown(
      [
        { name: "a", state: "alive" },
        { name: "b", state: "alive" },
      ],
      "a",
    ),
    false,
  );
  assert.equal(
    peersKnown(
      [
        { name: "a", state: "alive" },
        { name: "b", state: "alive", metadata: meta },
      ],
      "a",
    ),
    true,
  );
  assert.equal(
    peersKnown(
      [
        { name: "b", state: "dead" },
        { name: "c", state: "alive", metadata: meta },
      ],
      "a",
    ),
    true,
  );
});

test("readiness helper: with an expected member count, every expected member must be up and known", () => {
  const meta = {};
  const two = [
    { name: "a", state: "alive" },
    { name: "b", state: "alive", metadata: meta },
  ];
  assert.equal(peersKnown(two, "a", 3), false, "the third expected member is not up yet");
  assert.equal(peersKnown(two, "a", 2), true);
  assert.equal(peersKnown([...two, { name: "c", state: "alive", metadata: meta }], "a", 3), true);
  assert.equal(
    peersKnown([...two, { name: "c", state: "dead", metadata: meta }], "a", 3),
    false,
    "a dead member does not count",
  );
  assert.equal(
    peersKnown([...two, { name: "c", state: "alive" }], "a", 3),
    false,
    "nor one without metadata",
  );
});

test("an unchanged view keeps the same objects (no per-pass garbage at scale)", () => {
  const m = newPlannerMemory();
  const held = new Map([[IP, "eth0"]]);
  const s = snapshot(active, { self: FIRST, members: everyone(), held });
  const a = plan(s, m);
  const electionBefore = m.elections.get(IP);
  const b = plan(s, m);
  assert.equal(b.addresses, held, "the held map itself when nothing changed");
  assert.equal(b.owned, a.owned);
  assert.equal(m.elections.get(IP), electionBefore);
});

test("property: nodes with the same view agree, and exactly one of them wants each IP", () => {
  const ips = ["198.51.100.20", "198.51.100.21", "2001:db8::21"];
  const cfg = planConfig(ips);
  const stateArb = fc.constantFrom("alive", "alive", "suspect", "dead", "left") as fc.Arbitrary<
    "alive" | "suspect" | "dead" | "left"
  >;
  fc.assert(
    fc.property(
      fc.array(stateArb, { minLength: 3, maxLength: 3 }),
      fc.boolean(),
      fc.subarray(ips),
      (states, failback, unhealthyIps) => {
        const members = NAMES.map((n, i) => member(n, cfg, { state: states[i] ?? "alive" }));
        const live = NAMES.filter((_, i) => isLive(states[i] ?? "dead"));
        const wants = new Map<string, string[]>();
        const owners = new Map<string, Set<string | undefined>>();
        for (const self of live) {
          // Health is per node: here every node but the first live one fails the chosen IPs, and says so.
          const sick = self !== live[0] ? new Set(unhealthyIps) : new Set<string>();
          const view = members.map((m) =>
            m.metadata && m.name !== live[0]
              ? {
                  ...m,
                  metadata: {
                    ...m.metadata,
                    eligibility: {
                      eligible: ips.filter((ip) => !unhealthyIps.includes(ip)),
                      ineligible: unhealthyIps.map((vip) => ({ vip, reason: "down" })),
                    },
                  },
                }
              : m,
          );
          const memory = newPlannerMemory();
          const p = plan(
            snapshot(cfg, {
              self,
              members: view,
              failback,
              choice: () => ON_ETH0,
              unhealthy: (ip) => (sick.has(ip) ? "down" : undefined),
            }),
            memory,
          );
          for (const ip of p.addresses.keys()) wants.set(ip, [...(wants.get(ip) ?? []), self]);
          for (const g of cfg.groups) {
            const set = owners.get(g.electionIp) ?? new Set();
            set.add(memory.ownership.get(g.electionIp)?.owner);
            owners.set(g.electionIp, set);
          }
          // Determinism: the same snapshot and fresh memory give the same plan.
          const again = plan(
            snapshot(cfg, {
              self,
              members: view,
              failback,
              unhealthy: (ip) => (sick.has(ip) ? "down" : undefined),
            }),
            newPlannerMemory(),
          );
          assert.deepEqual([...again.addresses], [...p.addresses]);
        }
        for (const [ip, set] of owners)
          assert.equal(set.size, live.length > 0 ? 1 : 0, `one owner for ${ip}`);
        if (live.length === 0) return;
        for (const ip of ips) assert.equal(wants.get(ip)?.length, 1, `exactly one node holds ${ip}`);
      },
    ),
    { seed: 11, numRuns: 200 },
  );
});

// ---- intended vs observed (issue 12): a node that cannot add a VIP hands it on -------------------------

const failing = (ip: string, failures: number, reason = "add failed: EACCES"): AddressDivergence => ({
  ip,
  ifname: "eth0",
  reason,
  since: 99_000,
  failures,
});

test("add failures: the owner keeps a VIP through 2 failed adds, gives it up at the 3rd; missing and interface failures never count", () => {
  const rows: Array<{ d: AddressDivergence; choice?: InterfaceChoice; givenUp: boolean }> = [
    { d: failing(IP, 1), givenUp: false },
    { d: failing(IP, 2), givenUp: false },
    { d: failing(IP, 3), givenUp: true },
    { d: failing(IP, 9, "add failed: ETIMEDOUT"), givenUp: true },
    // An add in flight, however long: the applier repairs it; it is not a reason to hand the VIP on.
    { d: failing(IP, 5, "missing"), givenUp: false },
    // The link view already rules the interface out: its reason is gossiped, not a hold failure.
    { d: failing(IP, 5), choice: { eligible: false, reason: "eth0 is down" }, givenUp: false },
  ];
  for (const row of rows) {
    const memory = newPlannerMemory();
    const held = new Map([[IP, "eth0"]]);
    const p = run(
      snapshot(active, {
        self: FIRST,
        members: everyone(),
        held,
        observed: () => false,
        divergences: [row.d],
        ...(row.choice ? { choice: () => row.choice } : {}),
      }),
      memory,
    );
    const label = `${row.d.reason} x${row.d.failures}${row.choice ? " (link down)" : ""}`;
    assert.equal(memory.hold.reason(IP) !== undefined, row.givenUp, label);
    if (row.choice) continue;
    assert.equal(p.addresses.has(IP), !row.givenUp, `${label}: still wanted`);
    assert.equal(owner(memory), row.givenUp ? SECOND : FIRST, `${label}: owner`);
    if (row.givenUp) {
      const e = p.events.find((x) => x.reason === "cannotHold");
      assert.match(
        e?.message ?? "",
        new RegExp(`^${IP}: cannot hold it here: ${row.d.reason} \\(\\d+ attempts\\); giving it up`),
      );
      // What the node gossips for it (the existing `ineligible` list): peers elect without it.
      const report = localReport({ ...snapshot(active), hold: memory.hold }, IP);
      assert.equal(report.eligible, false);
      assert.match(report.reason ?? "", /cannot hold it here/);
      assert.equal(p.cannotHoldAny, `this node can hold none of its VIPs: ${report.reason}`, "its only VIP");
    } else assert.equal(p.cannotHoldAny, undefined, label);
  }
});

test("a peer that gossips it cannot hold a VIP is skipped by everyone's election", () => {
  const reason = "cannot hold it here: add failed: EPERM (3 attempts)";
  const members = NAMES.map((n) =>
    member(n, active, n === FIRST ? { ineligible: [{ vip: IP, reason }] } : {}),
  );
  for (const self of [SECOND, THIRD]) {
    const memory = newPlannerMemory();
    const p = run(snapshot(active, { self, members }), memory);
    assert.equal(owner(memory), SECOND, `as seen by ${self}`);
    assert.equal(p.addresses.has(IP), self === SECOND);
  }
});

test("EPERM is node-wide: every VIP is given up at once and the node is not ready; other errors are per VIP", () => {
  const two = planConfig([IP, IP6]);
  const members = NAMES.map((n) => member(n, two));
  const rows: Array<{ reason: string; ineligible: string[]; notReady: boolean }> = [
    { reason: "add failed: EPERM", ineligible: [IP, IP6], notReady: true },
    { reason: "add failed: EACCES", ineligible: [IP], notReady: false },
  ];
  for (const row of rows) {
    const memory = newPlannerMemory();
    const p = run(
      snapshot(two, {
        self: FIRST,
        members,
        held: new Map([[IP, "eth0"]]),
        observed: () => false,
        divergences: [failing(IP, 3, row.reason)],
      }),
      memory,
    );
    const ineligible = [IP, IP6].filter((ip) => memory.hold.reason(ip) !== undefined);
    assert.deepEqual(ineligible, row.ineligible, row.reason);
    assert.equal(p.cannotHoldAny !== undefined, row.notReady, row.reason);
    if (row.notReady)
      assert.match(
        p.cannotHoldAny ?? "",
        /^this node can hold none of its VIPs: cannot hold any VIP here: add failed: EPERM/,
      );
    assert.ok(
      p.events.some(
        (e) => e.reason === "cannotHold" && e.message.includes(row.notReady ? "every VIP" : "giving it up"),
      ),
    );
  }
});

test("eligibility comes back by itself: trial adds after 2 s (doubling), a working one makes the node eligible again", () => {
  const memory = newPlannerMemory();
  const base = { self: FIRST, members: everyone() };
  run(
    snapshot(active, {
      ...base,
      now: 100_000,
      held: new Map([[IP, "eth0"]]),
      observed: () => false,
      divergences: [failing(IP, 3)],
    }),
    memory,
  );
  assert.ok(memory.hold.reason(IP));
  const rows: Array<{ now: number; trial: boolean; result?: string | null; eligible: boolean }> = [
    { now: 101_000, trial: false, eligible: false },
    { now: 102_000, trial: true, eligible: false },
    // The trial failed: the next one is 4 s later.
    { now: 103_000, trial: false, result: "EACCES", eligible: false },
    { now: 105_500, trial: false, eligible: false },
    { now: 106_000, trial: true, eligible: false },
    // This one worked: eligible again, and (best ranked) the node takes the VIP back in the same pass.
    { now: 106_100, trial: false, result: null, eligible: true },
  ];
  for (const row of rows) {
    const p = run(
      snapshot(active, {
        ...base,
        now: row.now,
        held: p0held(memory),
        ...(row.result !== undefined ? { trialResults: [{ ip: IP, error: row.result ?? undefined }] } : {}),
      }),
      memory,
    );
    assert.deepEqual(p.trials, row.trial ? [{ ip: IP, interface: "eth0" }] : [], `trial at ${row.now}`);
    assert.equal(memory.hold.reason(IP) === undefined, row.eligible, `eligible at ${row.now}`);
    assert.equal(p.addresses.has(IP), row.eligible, `wanted at ${row.now}`);
    if (row.result === null) assert.ok(p.events.some((e) => e.reason === "canHoldAgain"));
  }
});

/** What a node holds after the passes so far: nothing while it gave the VIP up. */
const p0held = (memory: PlannerMemory): ReadonlyMap<string, string> =>
  owner(memory) === FIRST && memory.hold.reason(IP) === undefined ? new Map([[IP, "eth0"]]) : new Map();

test("a node-wide mark clears as soon as any add is seen in the kernel", () => {
  const two = planConfig([IP, IP6]);
  const memory = newPlannerMemory();
  const members = NAMES.map((n) => member(n, two));
  run(
    snapshot(two, {
      self: FIRST,
      members,
      held: new Map([[IP, "eth0"]]),
      observed: () => false,
      divergences: [failing(IP, 3, "add failed: EPERM")],
    }),
    memory,
  );
  assert.ok(memory.hold.holdsNothing);
  // Someone granted the capability and an address that was still wanted got in.
  const p = run(
    snapshot(two, { self: FIRST, members, held: new Map([[IP, "eth0"]]), observed: () => true }),
    memory,
  );
  assert.equal(memory.hold.size, 0);
  assert.equal(p.cannotHoldAny, undefined);
});

test("intended vs observed per group, as the status shows it", () => {
  const intended = new Map([[IP, "eth0"]]);
  const noHold = newPlannerMemory().hold;
  const kernel = (held: boolean) => ({ observed: () => held, divergences: () => [] });
  const rows: Array<{
    name: string;
    held: boolean;
    intended: ReadonlyMap<string, string>;
    d?: AddressDivergence;
    want: ReturnType<typeof groupHolding>;
  }> = [
    { name: "in the kernel", held: true, intended, want: { held: true } },
    { name: "add in flight", held: false, intended, want: { held: false, divergence: `${IP}: being added` } },
    {
      name: "adds failing",
      held: false,
      intended,
      d: failing(IP, 2, "add failed: EPERM"),
      want: { held: false, divergence: `${IP}: add failed: EPERM for 1.2 s` },
    },
    {
      name: "probing first",
      held: false,
      intended: new Map(),
      want: { held: false, divergence: `${IP}: not taken (probing for conflicts)` },
    },
  ];
  for (const row of rows) {
    const divergences = new Map(row.d ? [[IP, row.d]] : []);
    const got = groupHolding(
      [IP],
      row.intended,
      kernel(row.held),
      divergences,
      noHold,
      () => "probing for conflicts",
      100_200,
    );
    assert.deepEqual(got, row.want, row.name);
  }
  assert.equal(divergenceText("missing", 12_340), "missing for 12.3 s");
});

// ---- make-before-break hand-over (failback) -------------------------------------------------------------

/** SECOND holds IP while FIRST is away; returns its memory after the pass that sees FIRST back. */
function holderSeesFirstBack(
  firstExtra: Parameters<typeof member>[2] = {},
  now = 10_000,
): { memory: PlannerMemory; back: Plan } {
  const memory = newPlannerMemory();
  const held = new Map([[IP, "eth0"]]);
  const away = NAMES.map((n) => member(n, active, n === FIRST ? { state: "left" } : {}));
  run(snapshot(active, { self: SECOND, members: away, held, now: now - 1000 }), memory);
  assert.equal(owner(memory), SECOND);
  const back = run(
    snapshot(active, {
      self: SECOND,
      members: NAMES.map((n) => member(n, active, n === FIRST ? firstExtra : {})),
      held,
      now,
      events: [{ kind: "join", member: FIRST, at: now }],
    }),
    memory,
  );
  return { memory, back };
}

test("hand-over: the old holder keeps the address, unclaimed and silent, until the new owner announces it", () => {
  const { memory, back } = holderSeesFirstBack();
  assert.equal(owner(memory), FIRST, "the election moved at once");
  assert.deepEqual([...back.addresses], [[IP, "eth0"]], "still held");
  assert.deepEqual(back.withdrawals, []);
  assert.deepEqual(back.owned, [], "no longer claimed: the new owner may take it");
  assert.deepEqual(back.released, [IP]);
  assert.deepEqual(back.announcements, [], "no re-announce: the new owner's must be the last word");
  assert.deepEqual(back.silenced, [IP], "nor a later round of its own earlier burst");
  assert.ok(back.events.some((e) => e.reason === "handoverStarted" && e.fields.to === FIRST));
  assert.deepEqual(back.watched, [IP], "watching for the new owner's announcement");
  const context = {
    held: back.addresses,
    ready: true,
    memberState: () => "alive",
    knownForeignMac: undefined,
    electionIp: IP,
  };
  // A third member's claim is not the new owner's, and is not answered either (this node lost the election).
  const third = { ip: IP, mac: "02:00:00:00:00:03", origin: { kind: "member" as const, member: THIRD } };
  assert.equal(answerHeldClaim(third, context, memory).kind, "ignore");
  const fromFirst = { ip: IP, mac: "02:00:00:00:00:01", origin: { kind: "member" as const, member: FIRST } };
  assert.deepEqual(answerHeldClaim(fromFirst, context, memory), { kind: "handedOver", to: FIRST });
  assert.equal(answerHeldClaim(fromFirst, context, memory).kind, "ignore", "once");
  // Seen: the address stays HANDOVER_DRAIN_MS longer for packets already on their way, and a pass is asked
  // for when that ends.
  const draining = run(
    snapshot(active, { self: SECOND, members: everyone(), held: back.addresses, now: 10_010 }),
    memory,
  );
  assert.deepEqual(draining.withdrawals, [], "kept while packets sent before the switch arrive");
  assert.deepEqual(draining.owned, []);
  assert.deepEqual(draining.announcements, []);
  assert.deepEqual(draining.silenced, [IP]);
  assert.equal(draining.nextPassAt, 10_010 + HANDOVER_DRAIN_MS);
  const early = run(
    snapshot(active, {
      self: SECOND,
      members: everyone(),
      held: back.addresses,
      now: 10_009 + HANDOVER_DRAIN_MS,
    }),
    memory,
  );
  assert.deepEqual(early.withdrawals, []);
  const done = run(
    snapshot(active, {
      self: SECOND,
      members: everyone(),
      held: back.addresses,
      now: 10_010 + HANDOVER_DRAIN_MS,
    }),
    memory,
  );
  assert.equal(done.nextPassAt, undefined, "nothing left to drain");
  assert.deepEqual(done.withdrawals, [IP]);
  assert.deepEqual(done.silenced, []);
  assert.equal(done.addresses.size, 0);
  assert.ok(done.events.some((e) => e.reason === "handoverDone" && /announced it/.test(e.message)));
  assert.equal(memory.handovers.size, 0);
});

test("hand-over ends: new owner's claim (0.2.0 only), the bound, ineligibility here, or the new owner failing", () => {
  const held = new Map([[IP, "eth0"]]);
  const pass = (memory: PlannerMemory, members: ReturnType<typeof everyone>, now: number, extra = {}) =>
    run(snapshot(active, { self: SECOND, members, held, now, ...extra }), memory);
  const claiming = (extra = {}) =>
    NAMES.map((n) => member(n, active, n === FIRST ? { owned: [IP], ...extra } : {}));
  // A 0.2.0 owner claims a group only once its address is in place: let go.
  const a = holderSeesFirstBack();
  assert.deepEqual(pass(a.memory, claiming(), 10_005).withdrawals, [], "after the drain");
  const claimed = pass(a.memory, claiming(), 10_005 + HANDOVER_DRAIN_MS);
  assert.deepEqual(claimed.withdrawals, [IP]);
  assert.ok(
    claimed.events.some((e) => e.reason === "handoverDone" && /holds it and claims it/.test(e.message)),
  );
  // 0.1.0 claims before its address is in place: keep holding until its announcement, or the bound.
  const b = holderSeesFirstBack({ legacy: true });
  assert.deepEqual(pass(b.memory, claiming({ legacy: true }), 10_005).withdrawals, []);
  const bound = pass(b.memory, claiming({ legacy: true }), 10_000 + HANDOVER_HOLD_MAX_MS);
  assert.deepEqual(bound.withdrawals, [IP]);
  assert.ok(bound.events.some((e) => e.reason === "handoverDone" && /did not announce it/.test(e.message)));
  // This node cannot serve it any more (health, link): no reason to hold it.
  const c = holderSeesFirstBack();
  assert.deepEqual(pass(c.memory, everyone(), 10_005, { unhealthy: () => "down" }).withdrawals, [IP]);
  // The new owner fails before it took the IP: ours again, never withdrawn, claimed again.
  const d = holderSeesFirstBack();
  const failed = pass(d.memory, everyone({ [FIRST]: "dead" }), 10_005);
  assert.equal(owner(d.memory), SECOND);
  assert.deepEqual(failed.withdrawals, []);
  assert.deepEqual(failed.announcements, [], "it never announced it: clients are still here");
  assert.deepEqual(pass(d.memory, everyone({ [FIRST]: "dead" }), 10_006).owned, [IP]);
  // ... and after it had announced it, this node announces it again.
  const e = holderSeesFirstBack();
  const handover = e.memory.handovers.get(IP);
  assert.ok(handover);
  handover.announced = true;
  const back = pass(e.memory, everyone({ [FIRST]: "dead" }), 10_005);
  assert.deepEqual(back.announcements, [{ ips: [IP], cause: `${FIRST} left it before taking it` }]);
  // A fresh node with the address but no memory of owning it (a plain loser) withdraws at once.
  const fresh = run(snapshot(active, { self: SECOND, members: everyone(), held }));
  assert.deepEqual(fresh.withdrawals, [IP]);
});

test("takeover: the elected node waits for a live 0.2.0 holder to let go of its claim, up to a bound", () => {
  const holderClaims = (extra = {}) =>
    NAMES.map((n) => member(n, active, n === SECOND ? { owned: [IP], ...extra } : {}));
  const memory = newPlannerMemory();
  const first = run(snapshot(active, { self: FIRST, members: holderClaims(), now: 1_000 }), memory);
  assert.equal(owner(memory), FIRST);
  assert.equal(first.addresses.size, 0, "waits for the holder's hand-over");
  assert.equal(
    run(snapshot(active, { self: FIRST, members: everyone(), now: 1_010 }), memory).addresses.size,
    1,
    "takes it once the holder let go of its claim",
  );
  const stuck = newPlannerMemory();
  run(snapshot(active, { self: FIRST, members: holderClaims(), now: 1_000 }), stuck);
  const later = run(
    snapshot(active, { self: FIRST, members: holderClaims(), now: 1_000 + TAKEOVER_WAIT_MAX_MS }),
    stuck,
  );
  assert.equal(later.addresses.size, 1, "takes it anyway after the bound");
  // A suspect holder is not waited for (it may be gone), nor is a 0.1.0 one (it never hands over).
  const suspect = run(snapshot(active, { self: FIRST, members: holderClaims({ state: "suspect" }) }));
  assert.equal(suspect.addresses.size, 1);
  const legacy = run(snapshot(active, { self: FIRST, members: holderClaims({ legacy: true }) }));
  assert.equal(legacy.addresses.size, 1);
});

test("takeover from 0.1.0: eligibility kept back until its counter-announcement is answered", () => {
  const holderClaims = NAMES.map((n) => member(n, active, n === SECOND ? { owned: [IP], legacy: true } : {}));
  const memory = newPlannerMemory();
  const start = run(snapshot(active, { self: FIRST, members: holderClaims, now: 1_000 }), memory);
  assert.ok(start.addresses.has(IP), "adds (and so announces) it at once");
  const reason = start.withheld.ips.get(IP) ?? "";
  assert.match(reason, new RegExp(`taking over from ${SECOND}`), "but does not say it is eligible yet");
  assert.deepEqual(start.owned, []);
  // Placed, announced; the holder has not answered yet: still kept back.
  const held = start.addresses;
  const placed = run(snapshot(active, { self: FIRST, members: holderClaims, held, now: 1_010 }), memory);
  assert.ok(placed.withheld.ips.has(IP));
  assert.deepEqual(placed.owned, []);
  // The holder's counter-announcement is answered (every time, even after another member's) ...
  const context = {
    held,
    ready: true,
    memberState: () => "alive",
    knownForeignMac: undefined,
    electionIp: IP,
  };
  const counter = { ip: IP, mac: "02:00:00:00:00:02", origin: { kind: "member" as const, member: SECOND } };
  assert.equal(answerHeldClaim(counter, context, memory).kind, "reannounce");
  assert.equal(answerHeldClaim(counter, context, memory).kind, "reannounce");
  // ... and, a drain later (frames sent to the holder before our answer still land there), this node says it
  // is eligible and claims it; the holder lets go with clients already here.
  const draining = run(snapshot(active, { self: FIRST, members: holderClaims, held, now: 1_020 }), memory);
  assert.ok(draining.withheld.ips.has(IP), "kept back during the drain");
  assert.equal(draining.nextPassAt, 1_020 + HANDOVER_DRAIN_MS);
  const forward = run(
    snapshot(active, { self: FIRST, members: holderClaims, held, now: 1_020 + HANDOVER_DRAIN_MS }),
    memory,
  );
  assert.equal(forward.withheld.ips.size, 0);
  assert.deepEqual(forward.owned, [IP]);
  // Without a counter-announcement (it crossed our announcement, or was lost): clients may still follow the
  // holder, so after LEGACY_ANSWER_WAIT_MS this node announces once more, then steps forward a drain later.
  const quietHolder = newPlannerMemory();
  run(snapshot(active, { self: FIRST, members: holderClaims, now: 1_000 }), quietHolder);
  const waiting = run(
    snapshot(active, { self: FIRST, members: holderClaims, held, now: 1_010 }),
    quietHolder,
  );
  assert.equal(waiting.nextPassAt, 1_010 + LEGACY_ANSWER_WAIT_MS, "a pass is due when the wait ends");
  const early = run(
    snapshot(active, { self: FIRST, members: holderClaims, held, now: 1_010 + LEGACY_ANSWER_WAIT_MS - 1 }),
    quietHolder,
  );
  assert.ok(early.withheld.ips.has(IP));
  assert.deepEqual(early.announcements, []);
  const dueAt = 1_010 + LEGACY_ANSWER_WAIT_MS;
  const due = run(snapshot(active, { self: FIRST, members: holderClaims, held, now: dueAt }), quietHolder);
  assert.deepEqual(
    due.announcements.map((a) => a.ips),
    [[IP]],
    "announces once more, so this node speaks last",
  );
  assert.ok(due.withheld.ips.has(IP), "still kept back: the holder would let go at once");
  assert.deepEqual(due.owned, []);
  assert.equal(due.nextPassAt, dueAt + HANDOVER_DRAIN_MS);
  const again = run(
    snapshot(active, { self: FIRST, members: holderClaims, held, now: dueAt + 1 }),
    quietHolder,
  );
  assert.deepEqual(again.announcements, [], "once");
  const stepped = run(
    snapshot(active, { self: FIRST, members: holderClaims, held, now: dueAt + HANDOVER_DRAIN_MS }),
    quietHolder,
  );
  assert.equal(stepped.withheld.ips.size, 0);
  assert.deepEqual(stepped.owned, [IP]);
});

test("starting: before it is ready a node keeps its eligibility back; this build reads that as eligible", () => {
  const notReady = run(snapshot(active, { self: FIRST, members: everyone(), ready: false }));
  assert.equal(notReady.withheld.all, STARTING_REASON);
  assert.equal(run(snapshot(active, { self: FIRST, members: everyone() })).withheld.all, undefined);
  // A peer saying "starting" is a candidate here (0.1.0 reads it as not eligible and keeps its VIPs).
  const starting = NAMES.map((n) =>
    member(n, active, n === FIRST ? { ineligible: [{ vip: IP, reason: STARTING_REASON }] } : {}),
  );
  const seen = run(snapshot(active, { self: SECOND, members: starting }));
  assert.equal(owner(seen.memory), FIRST);
  const elsewise = NAMES.map((n) =>
    member(n, active, n === FIRST ? { ineligible: [{ vip: IP, reason: "eth0 is down" }] } : {}),
  );
  assert.equal(owner(run(snapshot(active, { self: SECOND, members: elsewise })).memory), SECOND);
});

test("a member's death: that pass elects only the dead member's groups, a full pass follows at once", () => {
  const ips = Array.from({ length: 24 }, (_, i) => `198.51.100.${100 + i}`);
  const config = planConfig(ips);
  const members = (dead?: string) =>
    NAMES.map((n) => member(n, config, { state: n === dead ? "dead" : "alive" }));
  const memory = newPlannerMemory();
  const steady = plan(snapshot(config, { now: 1_000, members: members() }), memory);
  const ownerBefore = new Map(ips.map((ip) => [ip, memory.ownership.get(ip)?.owner]));
  const victim = "node-c";
  const victims = ips.filter((ip) => ownerBefore.get(ip) === victim);
  const others = ips.filter((ip) => ownerBefore.get(ip) !== victim);
  assert.ok(victims.length > 0 && others.length > 0, "the table covers both kinds of group");
  const kept = new Map(others.map((ip) => [ip, memory.elections.get(ip)]));

  const deciding = plan(
    snapshot(config, {
      now: 2_000,
      members: members(victim),
      held: steady.addresses,
      events: [{ kind: "dead", member: victim, at: 2_000 }],
    }),
    memory,
  );
  for (const ip of victims) {
    assert.equal(memory.ownership.get(ip)?.owner, ranked(ip, ["node-a", "node-b"])[0], `${ip} moves`);
    assert.ok(deciding.addresses.has(ip) === (memory.ownership.get(ip)?.owner === "node-a"));
  }
  for (const ip of others) {
    assert.equal(memory.ownership.get(ip)?.owner, ownerBefore.get(ip), `${ip} keeps its owner`);
    assert.equal(memory.elections.get(ip), kept.get(ip), `${ip}: its election is not re-run in this pass`);
  }
  assert.equal(deciding.ownerChanges.length, victims.length);
  assert.equal(deciding.nextPassAt, 2_000, "a full pass is asked for right away");

  const full = plan(
    snapshot(config, { now: 2_001, members: members(victim), held: deciding.addresses }),
    memory,
  );
  assert.equal(full.ownerChanges.length, 0, "the full pass changes no owner");
  for (const ip of others) {
    const ranking = memory.elections.get(ip)?.ranking ?? [];
    assert.equal(ranking.find((v) => v.node === victim)?.skipped, "member is dead", `${ip}: ranking now`);
  }
  assert.equal(full.nextPassAt, undefined);
});

test("a member's death that costs the quorum releases every group in that same pass", () => {
  const ips = ["198.51.100.130", "198.51.100.131", "198.51.100.132"];
  const config = planConfig(ips);
  const quorum = { mode: "majority" as const, expect: 3 };
  const memory = newPlannerMemory();
  const all = NAMES.map((n) => member(n, config));
  const steady = plan(snapshot(config, { now: 1_000, members: all, quorum }), memory);
  const gone = NAMES.map((n) => member(n, config, { state: n === "node-a" ? "alive" : "dead" }));
  const p = plan(
    snapshot(config, {
      now: 2_000,
      members: gone,
      quorum,
      held: steady.addresses,
      events: [
        { kind: "dead", member: "node-b", at: 2_000 },
        { kind: "dead", member: "node-c", at: 2_000 },
      ],
    }),
    memory,
  );
  assert.equal(p.quorum.ok, false);
  assert.deepEqual([...p.addresses.keys()], []);
  for (const ip of ips) assert.equal(memory.ownership.get(ip)?.owner, undefined);
});

test("a reload's new VIP: a peer that has not loaded the edit yet counts as eligible for a while", () => {
  const A = "198.51.100.140";
  const B = "198.51.100.141";
  const before = planConfig([A]);
  const after = planConfig([A, B]);
  const [top = "", second = "", third = ""] = ranked(B, NAMES);
  const on = (config: typeof after, name: string) => member(name, config);
  // This node (ranked second for B) loaded the edit; the top-ranked peer has not yet.
  const view = [on(after, second), on(before, top), on(after, third)];
  const memory = newPlannerMemory();
  plan(snapshot(before, { self: second, now: 1_000, members: NAMES.map((n) => on(before, n)) }), memory);
  const reloaded = plan(snapshot(after, { self: second, now: 2_000, members: view }), memory);
  assert.equal(memory.ownership.get(B)?.owner, top, "the top-ranked peer, about to load it");
  assert.equal(reloaded.addresses.has(B), false);
  assert.deepEqual(reloaded.probes, []);
  // It loads the edit: nothing changes here.
  const loaded = [on(after, second), on(after, top), on(after, third)];
  plan(snapshot(after, { self: second, now: 2_300, members: loaded }), memory);
  assert.equal(memory.ownership.get(B)?.owner, top);

  // A peer that never loads it (other manifests for good) delays the new VIP by NEW_GROUP_PEER_WAIT_MS.
  const stuck = newPlannerMemory();
  plan(snapshot(before, { self: second, now: 1_000, members: NAMES.map((n) => on(before, n)) }), stuck);
  plan(snapshot(after, { self: second, now: 2_000, members: view }), stuck);
  assert.equal(stuck.ownership.get(B)?.owner, top);
  // A slow peer: its new record came 1.86 s after this node loaded the edit in a profiled 10,000-service
  // reload; still the top-ranked peer's then.
  plan(snapshot(after, { self: second, now: 2_000 + 1_860, members: view }), stuck);
  assert.equal(stuck.ownership.get(B)?.owner, top, "still waiting for a slow peer's record");
  const later = plan(
    snapshot(after, { self: second, now: 2_000 + NEW_GROUP_PEER_WAIT_MS, members: view }),
    stuck,
  );
  assert.equal(stuck.ownership.get(B)?.owner, second, "this node, once the wait is over");
  assert.equal(later.addresses.has(B), true);
  assert.equal(stuck.ownership.get(A)?.owner, ranked(A, NAMES)[0], "an IP the peer knows is not affected");

  // At start-up there is no reload: a peer on other manifests is not eligible for IPs it does not report.
  const cold = newPlannerMemory();
  plan(snapshot(after, { self: second, now: 1_000, members: view }), cold);
  assert.equal(cold.ownership.get(B)?.owner, second);
});

test("a reload: that pass elects only the groups it added, a full pass follows at once", () => {
  const ips = Array.from({ length: 24 }, (_, i) => `198.51.100.${100 + i}`);
  const config = planConfig(ips);
  const members = (cfg: ReturnType<typeof planConfig>) => NAMES.map((n) => member(n, cfg));
  const memory = newPlannerMemory();
  const steady = plan(snapshot(config, { now: 1_000, members: members(config) }), memory);
  const kept = new Map(ips.map((ip) => [ip, memory.elections.get(ip)]));
  const added = "198.51.100.200";
  const reloaded = planConfig([...ips, added], { before: config });
  // The last document's text changes (the new one follows it): its group is new too.
  const unchanged = ips.slice(0, -1);
  for (const ip of unchanged)
    assert.equal(reloaded.plans.get(ip), config.plans.get(ip), `${ip}: plan reused`);

  // In the same moment the owner of the first group reports it cannot hold it: this pass leaves that to
  // the full pass after it.
  const first = unchanged[0] as string;
  const firstOwner = memory.ownership.get(first)?.owner;
  const lateNews = NAMES.map((n) =>
    member(n, reloaded, n === firstOwner ? { ineligible: [{ vip: first, reason: "eth0 is down" }] } : {}),
  );
  const deciding = plan(
    snapshot(reloaded, { now: 2_000, members: lateNews, held: steady.addresses }),
    memory,
  );
  assert.deepEqual(
    deciding.ownerChanges.map((c) => c.group.electionIp),
    [added],
    "only the new group is elected in this pass",
  );
  for (const ip of unchanged)
    assert.equal(memory.elections.get(ip), kept.get(ip), `${ip}: its election is not re-run in this pass`);
  assert.equal(memory.ownership.get(added)?.owner, ranked(added, NAMES)[0], "the new group is elected");
  assert.equal(deciding.nextPassAt, 2_000, "a full pass is asked for right away");

  const full = plan(snapshot(reloaded, { now: 2_001, members: lateNews, held: deciding.addresses }), memory);
  assert.deepEqual(
    full.ownerChanges.map((c) => c.group.electionIp),
    [first],
    "the full pass right after it elects every group",
  );
  assert.notEqual(memory.ownership.get(first)?.owner, firstOwner);
  assert.equal(full.nextPassAt, undefined);
});
