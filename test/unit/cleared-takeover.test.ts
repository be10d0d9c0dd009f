// A clean probe's add brought forward (lib/daemon/cleared-takeover.ts): only on the decision the last plan
// made, and only when nothing it decided on has changed since.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CLEARED_TAKEOVER_MAX_PROBING,
  interfaceForClearedProbe,
  type ClearedProbeFacts,
} from "../../lib/daemon/cleared-takeover";
import { newPlannerMemory } from "../../lib/plan/planner";

const IP = "198.51.100.80";

function facts(change: (f: Mutable) => void = () => {}): ClearedProbeFacts {
  const memory = newPlannerMemory();
  memory.ownership.set(IP, { owner: "node1", since: 0 });
  const f: Mutable = {
    self: "node1",
    electionIp: IP,
    memory,
    changedSincePlan: false,
    local: { eligible: true, interface: "eth0" },
    wanted: new Map([["198.51.100.1", "eth0"]]),
    probing: 0,
  };
  change(f);
  return f;
}
type Mutable = { -readonly [K in keyof ClearedProbeFacts]: ClearedProbeFacts[K] };

const cases: Array<{ name: string; facts: ClearedProbeFacts; expect: string | undefined }> = [
  { name: "elected here, waiting only for the probe: added now", facts: facts(), expect: "eth0" },
  {
    name: "on the interface this node would choose now",
    facts: facts((f) => (f.local = { eligible: true, interface: "eth1" })),
    expect: "eth1",
  },
  {
    name: "a few other probes in flight (a reload adding several services)",
    facts: facts((f) => (f.probing = CLEARED_TAKEOVER_MAX_PROBING)),
    expect: "eth0",
  },
  {
    name: "a start-up or takeover probing many: each add brought forward would copy the wanted set",
    facts: facts((f) => (f.probing = CLEARED_TAKEOVER_MAX_PROBING + 1)),
    expect: undefined,
  },
  {
    name: "no longer configured",
    facts: facts((f) => (f.electionIp = undefined)),
    expect: undefined,
  },
  {
    name: "a member event or a new config since the plan: the step decides",
    facts: facts((f) => (f.changedSincePlan = true)),
    expect: undefined,
  },
  {
    name: "the last plan elected another node",
    facts: facts((f) => f.memory.ownership.set(IP, { owner: "node2", since: 0 })),
    expect: undefined,
  },
  {
    name: "the last plan elected nobody (not ready, no quorum)",
    facts: facts((f) => f.memory.ownership.set(IP, { owner: undefined, since: 0 })),
    expect: undefined,
  },
  {
    name: "a holder is handing it over",
    facts: facts((f) => f.memory.takeoverWaits.set(IP, 0)),
    expect: undefined,
  },
  {
    name: "a 0.1.0 holder is being answered",
    facts: facts((f) =>
      f.memory.legacyTakeovers.set(IP, { holder: "node2", placedAt: undefined, answered: false }),
    ),
    expect: undefined,
  },
  {
    name: "this node hands it over",
    facts: facts((f) => f.memory.handovers.set(IP, { to: "node2", since: 0, announced: false } as never)),
    expect: undefined,
  },
  {
    name: "not eligible here any more (link down, unhealthy, foreign device)",
    facts: facts((f) => (f.local = { eligible: false, reason: "unhealthy" })),
    expect: undefined,
  },
  {
    name: "already wanted",
    facts: facts((f) => (f.wanted = new Map([[IP, "eth0"]]))),
    expect: undefined,
  },
];

for (const c of cases)
  test(`clean probe: ${c.name}`, () => {
    assert.equal(interfaceForClearedProbe(IP, c.facts), c.expect);
  });
