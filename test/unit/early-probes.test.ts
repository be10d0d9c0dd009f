// Probes started at a reload, before the new VIPs' election (lib/plan/early-probes.ts): only new VIPs this
// node could hold, only while it elects, and none for a large edit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EARLY_PROBES_MAX, earlyProbes, type EarlyProbeFacts } from "../../lib/plan/early-probes";
import type { InterfaceChoice } from "../../lib/net/interface-choice";

const OLD = "198.51.100.10";
const NEW = "198.51.100.80";
const NEW_V6 = "2001:db8::80";

function facts(change: (f: Mutable) => void = () => {}): EarlyProbeFacts {
  const choices = new Map<string, InterfaceChoice>([
    [OLD, { eligible: true, interfaces: ["eth0"] }],
    [NEW, { eligible: true, interfaces: ["eth0", "eth1"] }],
    [NEW_V6, { eligible: true, interfaces: ["eth0"] }],
  ]);
  const f: Mutable = {
    probeBeforeTakeover: true,
    electing: true,
    before: new Map([[OLD, {}]]),
    after: new Map([
      [OLD, {}],
      [NEW, {}],
      [NEW_V6, {}],
    ]),
    held: new Map([[OLD, "eth0"]]),
    links: { choice: (ip) => choices.get(ip) },
  };
  change(f);
  return f;
}
type Mutable = { -readonly [K in keyof EarlyProbeFacts]: EarlyProbeFacts[K] };

const manyNew = (count: number): Map<string, unknown> =>
  new Map(Array.from({ length: count }, (_, i) => [`203.0.113.${i + 1}`, {}]));

const cases: Array<{ name: string; facts: EarlyProbeFacts; expect: string[] }> = [
  { name: "the new VIPs of both families, on their interfaces", facts: facts(), expect: [NEW, NEW_V6] },
  {
    name: "no probes before takeover (arpProbeMs 0)",
    facts: facts((f) => (f.probeBeforeTakeover = false)),
    expect: [],
  },
  {
    name: "not electing (not ready, no quorum or stopping): no owner to be",
    facts: facts((f) => (f.electing = false)),
    expect: [],
  },
  {
    name: "already held here (a VIP the config had under another service)",
    facts: facts((f) => (f.held = new Map([[NEW, "eth0"]]))),
    expect: [NEW_V6],
  },
  {
    name: "not eligible here: this node cannot be its owner",
    facts: facts((f) => {
      const links = f.links;
      f.links = {
        choice: (ip) =>
          ip === NEW ? { eligible: false, reason: "no interface on its subnet" } : links.choice(ip),
      };
    }),
    expect: [NEW_V6],
  },
  {
    name: "no interface choice yet",
    facts: facts((f) => (f.links = { choice: () => undefined })),
    expect: [],
  },
  {
    name: "a reload that only removes VIPs",
    facts: facts((f) => (f.after = new Map([[OLD, {}]]))),
    expect: [],
  },
  {
    name: `exactly ${EARLY_PROBES_MAX} new VIPs: all probed early`,
    facts: facts((f) => {
      f.after = manyNew(EARLY_PROBES_MAX);
      f.links = { choice: () => ({ eligible: true, interfaces: ["eth0"] }) };
    }),
    expect: [...manyNew(EARLY_PROBES_MAX).keys()],
  },
  {
    name: "a larger edit: the usual path (only the owner probes, after its election)",
    facts: facts((f) => {
      f.after = manyNew(EARLY_PROBES_MAX + 1);
      f.links = { choice: () => ({ eligible: true, interfaces: ["eth0"] }) };
    }),
    expect: [],
  },
];

for (const c of cases)
  test(`early probes: ${c.name}`, () => {
    assert.deepEqual(
      earlyProbes(c.facts).map((p) => p.ip),
      c.expect,
    );
  });

test("early probes: each on the interfaces this node would choose", () => {
  assert.deepEqual(earlyProbes(facts())[0], { ip: NEW, interfaces: ["eth0", "eth1"] });
});
