import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  electionHash,
  electOwner,
  failbackFor,
  planGroup,
  ownerOf,
  vipGroups,
  type ElectionPolicy,
  type ElectionResult,
  type EligibilityView,
  type MemberState,
  type MemberInfo,
  type VipGroup,
  withHashes,
} from "../../lib/election/election";
import { quorumOf } from "../../lib/election/quorum";
import type { L2Advertisement, LabelSelector, ManifestConfig, Service } from "../../lib/config/types";

const at = { file: "test.yaml", line: 1, column: 1 };
const sel = (matchLabels: Record<string, string>): LabelSelector => ({ matchLabels, matchExpressions: [] });

function service(key: string, extra: Partial<Service> = {}): Service {
  const [namespace = "default", name = key] = key.split("/");
  return {
    namespace,
    name,
    key,
    labels: {},
    annotations: {},
    ports: [],
    requestedIPs: [],
    backendKey: "",
    ipFamilies: ["IPv4"],
    ipFamilyPolicy: "SingleStack",
    externalTrafficPolicy: "Cluster",
    selector: {},
    source: at,
    ...extra,
  };
}

function ad(name: string, extra: Partial<L2Advertisement> = {}): L2Advertisement {
  return {
    name,
    pools: ["pool"],
    nodeSelectors: [],
    interfaces: [],
    serviceSelectors: [],
    preferredNodeSelectors: [],
    annotations: {},
    source: at,
    ...extra,
  };
}

function config(ads: L2Advertisement[], services: Service[] = [service("default/web")]): ManifestConfig {
  return { pools: [], advertisements: ads, services, namespaces: {} };
}

const alive = (name: string, labels: Record<string, string> = {}): MemberInfo => ({
  name,
  state: "alive",
  labels: { "kubernetes.io/hostname": name, ...labels },
});

function eligibleEverywhere(members: MemberInfo[], ips: string[]): EligibilityView {
  return new Map(members.map((m) => [m.name, new Map(ips.map((ip) => [ip, { eligible: true }]))]));
}

const group = (ip: string, services = ["default/web"]): VipGroup => ({
  electionIp: ip,
  ips: [ip],
  services,
  pool: "pool",
});

test("MetalLB's test vector: node-a, node-c, node-b for 192.168.1.240", () => {
  assert.ok(electionHash("node-a", "192.168.1.240").startsWith("0905ce28"));
  assert.ok(electionHash("node-c", "192.168.1.240").startsWith("a6530f9d"));
  assert.ok(electionHash("node-b", "192.168.1.240").startsWith("c5db6995"));
  const members = ["node-a", "node-b", "node-c"].map((n) => alive(n));
  const result = ownerOf(
    group("192.168.1.240"),
    members,
    eligibleEverywhere(members, ["192.168.1.240"]),
    config([ad("l2")]),
    { failback: true },
  );
  assert.equal(result.owner, "node-a");
  assert.deepEqual(
    result.ranking.map((r) => r.node),
    ["node-a", "node-c", "node-b"],
  );
});

test("equal hash ranks (52-bit prefixes, one pair in 2^52) are settled on the whole hash, as MetalLB sorts", () => {
  const ip = "192.168.1.240";
  const members = ["node-a", "node-b", "node-c"].map((n) => alive(n));
  const eligibility = eligibleEverywhere(members, [ip]);
  const byWholeHash = ["node-a", "node-b", "node-c"].sort((x, y) =>
    electionHash(x, ip) < electionHash(y, ip) ? -1 : 1,
  );
  assert.deepEqual(byWholeHash, ["node-a", "node-c", "node-b"]);
  const plan = planGroup(group(ip), config([ad("l2")]));
  // Forced equal ranks: only the whole hashes can give MetalLB's order.
  for (const m of members) plan.hashes.setRank(m.name, 12345);
  const tied = electOwner(plan, members, eligibility, { failback: true });
  assert.deepEqual(
    tied.ranking.map((r) => r.node),
    byWholeHash,
  );
  // The in-place check of an unchanged election agrees: the same result object comes back.
  assert.equal(electOwner(plan, members, eligibility, { failback: true }, tied), tied);
  // Ranks that disagree with the hashes would win (they never do: a rank is the hash's first 52 bits).
  const skewed = planGroup(group(ip), config([ad("l2")]));
  skewed.hashes.setRank("node-b", 1);
  skewed.hashes.setRank("node-c", 2);
  skewed.hashes.setRank("node-a", 3);
  assert.deepEqual(
    electOwner(skewed, members, eligibility, { failback: true }).ranking.map((r) => r.node),
    ["node-b", "node-c", "node-a"],
  );
});

test("rankings: candidates are shared objects across groups; status gets each node's hash for its group", () => {
  const members = ["node-a", "node-b", "node-c"].map((n) => alive(n));
  const ips = ["192.168.1.240", "192.168.1.241", "192.168.1.242"];
  const cfg = config([ad("l2")]);
  const eligibility = eligibleEverywhere(members, ips);
  const results = ips.map((ip) => {
    const plan = planGroup(group(ip), cfg);
    return { ip, plan, result: electOwner(plan, members, eligibility, { failback: true }) };
  });
  const byNode = (r: ElectionResult, node: string) => r.ranking.find((v) => v.node === node);
  for (const node of ["node-a", "node-b", "node-c"]) {
    const first = byNode(results[0]!.result, node);
    assert.ok(first);
    for (const { result } of results) assert.equal(byNode(result, node), first, `${node}: one object`);
  }
  for (const { ip, plan, result } of results) {
    const shown = withHashes(result.ranking, plan);
    assert.deepEqual(
      shown.map((v) => [v.node, v.hash]),
      result.ranking.map((v) => [v.node, electionHash(v.node, ip)]),
    );
    // Hash order among equal scores, as MetalLB ranks.
    const hashes = shown.map((v) => v.hash);
    assert.deepEqual(hashes, [...hashes].sort());
  }
  assert.deepEqual(withHashes(results[0]!.result.ranking, undefined), []);
});

test("ownerOf table", () => {
  const ip = "192.168.1.240";
  const three = ["node-a", "node-b", "node-c"];
  const cases: {
    name: string;
    members: MemberInfo[];
    ads: L2Advertisement[];
    eligibility?: EligibilityView;
    policy?: { failback: boolean; currentOwner?: string };
    owner: string | undefined;
    reason?: RegExp;
    skipped?: Record<string, RegExp>;
  }[] = [
    { name: "hash order decides", members: three.map((n) => alive(n)), ads: [ad("l2")], owner: "node-a" },
    {
      name: "dead and left members are skipped, suspects stay candidates",
      members: [
        { ...alive("node-a"), state: "dead" },
        { ...alive("node-c"), state: "left" },
        { ...alive("node-b"), state: "suspect" },
      ],
      ads: [ad("l2")],
      owner: "node-b",
      skipped: { "node-a": /member is dead/, "node-c": /member is left/ },
    },
    {
      name: "nodeSelectors filter candidates",
      members: [alive("node-a"), alive("node-b", { zone: "x" }), alive("node-c")],
      ads: [ad("l2", { nodeSelectors: [sel({ zone: "x" })] })],
      owner: "node-b",
      skipped: { "node-a": /not selected by the nodeSelectors/ },
    },
    {
      name: "preferred weights beat the hash",
      members: [alive("node-a"), alive("node-b", { tier: "gold" }), alive("node-c", { tier: "silver" })],
      ads: [
        ad("l2", {
          preferredNodeSelectors: [
            { weight: 10, preference: sel({ tier: "silver" }) },
            { weight: 50, preference: sel({ tier: "gold" }) },
          ],
        }),
      ],
      owner: "node-b",
    },
    {
      name: "weights of several ads add up",
      members: [alive("node-a", { tier: "silver" }), alive("node-b", { tier: "gold" }), alive("node-c")],
      ads: [
        ad("one", { preferredNodeSelectors: [{ weight: 30, preference: sel({ tier: "silver" }) }] }),
        ad("two", { preferredNodeSelectors: [{ weight: 30, preference: sel({ tier: "silver" }) }] }),
        ad("three", { preferredNodeSelectors: [{ weight: 50, preference: sel({ tier: "gold" }) }] }),
      ],
      owner: "node-a",
    },
    {
      name: "an ineligible node reports its reason",
      members: three.map((n) => alive(n)),
      ads: [ad("l2")],
      eligibility: new Map([
        [
          "node-a",
          new Map([[ip, { eligible: false, reason: `no interface with a subnet containing ${ip}` }]]),
        ],
        ["node-b", new Map([[ip, { eligible: true }]])],
        ["node-c", new Map()],
      ]),
      owner: "node-b",
      skipped: { "node-a": /no interface with a subnet/, "node-c": /has not reported eligibility/ },
    },
    {
      name: "no advertisement means no owner",
      members: three.map((n) => alive(n)),
      ads: [ad("other", { pools: ["elsewhere"] })],
      owner: undefined,
      reason: /noMatchingAdvertisement/,
    },
    {
      name: "non-revertive keeps a live current owner",
      members: three.map((n) => alive(n)),
      ads: [ad("l2")],
      policy: { failback: false, currentOwner: "node-b" },
      owner: "node-b",
    },
    {
      name: "non-revertive still moves off a dead owner",
      members: [alive("node-a"), { ...alive("node-b"), state: "dead" }, alive("node-c")],
      ads: [ad("l2")],
      policy: { failback: false, currentOwner: "node-b" },
      owner: "node-a",
    },
    {
      name: "revertive ignores the current owner",
      members: three.map((n) => alive(n)),
      ads: [ad("l2")],
      policy: { failback: true, currentOwner: "node-b" },
      owner: "node-a",
    },
  ];
  for (const c of cases) {
    const eligibility = c.eligibility ?? eligibleEverywhere(c.members, [ip]);
    const result = ownerOf(group(ip), c.members, eligibility, config(c.ads), c.policy ?? { failback: true });
    assert.equal(result.owner, c.owner, c.name);
    if (c.reason) assert.match(result.reason ?? "", c.reason, c.name);
    for (const [node, why] of Object.entries(c.skipped ?? {})) {
      assert.match(result.ranking.find((r) => r.node === node)?.skipped ?? "", why, `${c.name}: ${node}`);
    }
  }
});

test("interfaces come from the ads that select the owner; one ad without interfaces means all", () => {
  const members = [alive("node-a", { rack: "1" })];
  const ip = "192.168.1.240";
  const elig = eligibleEverywhere(members, [ip]);
  const two = config([ad("a", { interfaces: ["eth1"] }), ad("b", { interfaces: ["eth0", "eth1"] })]);
  assert.deepEqual(ownerOf(group(ip), members, elig, two, { failback: true }).interfaces, ["eth0", "eth1"]);
  const withAll = config([ad("a", { interfaces: ["eth1"] }), ad("b")]);
  assert.deepEqual(ownerOf(group(ip), members, elig, withAll, { failback: true }).interfaces, []);
  const otherRack = config([ad("a", { interfaces: ["eth9"], nodeSelectors: [sel({ rack: "2" })] }), ad("b")]);
  assert.deepEqual(ownerOf(group(ip), members, elig, otherRack, { failback: true }).interfaces, []);
});

test("vipGroups joins dual-stack pairs and shared IPs, keyed by the first IP of the first service", () => {
  const groups = vipGroups([
    { service: "default/dns-udp", ips: ["192.168.10.6"], pool: "dns" },
    { service: "default/dns-tcp", ips: ["192.168.10.6"], pool: "dns" },
    { service: "default/web", ips: ["192.168.10.50", "2001:db8::50"], pool: "web" },
    { service: "default/web6", ips: ["2001:db8::50"], pool: "web" },
    { service: "default/alone", ips: ["192.168.10.51"], pool: "web" },
  ]);
  assert.deepEqual(groups, [
    {
      electionIp: "192.168.10.50",
      ips: ["192.168.10.50", "2001:db8::50"],
      services: ["default/web", "default/web6"],
      pool: "web",
    },
    { electionIp: "192.168.10.51", ips: ["192.168.10.51"], services: ["default/alone"], pool: "web" },
    {
      electionIp: "192.168.10.6",
      ips: ["192.168.10.6"],
      services: ["default/dns-tcp", "default/dns-udp"],
      pool: "dns",
    },
  ]);
});

test("vipGroups without shared IPs (its fast path): one group per service, dual-stack pairs whole, sorted by election IP", () => {
  const groups = vipGroups([
    { service: "default/b", ips: ["198.51.100.2"], pool: "p" },
    { service: "default/a", ips: ["2001:db8::1", "198.51.100.1"], pool: "p" },
    { service: "default/c", ips: ["198.51.100.10"], pool: "q" },
    { service: "default/none", ips: [], pool: "p" },
  ]);
  assert.deepEqual(groups, [
    { electionIp: "198.51.100.10", ips: ["198.51.100.10"], services: ["default/c"], pool: "q" },
    { electionIp: "198.51.100.2", ips: ["198.51.100.2"], services: ["default/b"], pool: "p" },
    {
      electionIp: "2001:db8::1",
      ips: ["2001:db8::1", "198.51.100.1"],
      services: ["default/a"],
      pool: "p",
    },
  ]);
  // One IP twice in a service is not sharing, but takes the general path: the group lists it once.
  assert.deepEqual(vipGroups([{ service: "default/x", ips: ["198.51.100.3", "198.51.100.3"], pool: "p" }]), [
    { electionIp: "198.51.100.3", ips: ["198.51.100.3"], services: ["default/x"], pool: "p" },
  ]);
});

test("every node computes the same owners from the same view", () => {
  const members = ["n1", "n2", "n3", "n4", "n5"].map((n) => alive(n));
  const ips = Array.from({ length: 200 }, (_, i) => `198.51.100.${i}`);
  const elig = eligibleEverywhere(members, ips);
  const cfg = config([ad("l2")]);
  const owners = ips.map((ip) => ownerOf(group(ip), members, elig, cfg, { failback: true }).owner);
  const shuffled = [...members].reverse();
  assert.deepEqual(
    ips.map((ip) => ownerOf(group(ip), shuffled, elig, cfg, { failback: true }).owner),
    owners,
  );
  const counts = new Map<string, number>();
  for (const o of owners) counts.set(o ?? "", (counts.get(o ?? "") ?? 0) + 1);
  assert.equal(counts.size, 5, "200 VIPs spread over all 5 nodes");
});

test("non-revertive: the best-ranked live claimant keeps the IP; a returning node adopts it", () => {
  const ip = "192.168.1.240"; // ranking node-a, node-c, node-b
  const members = ["node-a", "node-b", "node-c"].map((n) => alive(n));
  const elig = eligibleEverywhere(members, [ip]);
  const cfg = config([ad("l2")]);
  const cases: { name: string; policy: ElectionPolicy; owner: string }[] = [
    {
      name: "node-a just restarted and hears node-b claim",
      policy: { failback: false, claimants: ["node-b"] },
      owner: "node-b",
    },
    {
      name: "a claim beats this node's memory",
      policy: { failback: false, currentOwner: "node-a", claimants: ["node-c"] },
      owner: "node-c",
    },
    {
      name: "two claimants after a healed partition: election order decides",
      policy: { failback: false, claimants: ["node-b", "node-c"] },
      owner: "node-c",
    },
    {
      name: "a claimant that is no candidate is ignored",
      policy: { failback: false, claimants: ["node-x"], currentOwner: "node-b" },
      owner: "node-b",
    },
    {
      name: "revertive mode ignores claims",
      policy: { failback: true, claimants: ["node-b"] },
      owner: "node-a",
    },
  ];
  for (const c of cases)
    assert.equal(ownerOf(group(ip), members, elig, cfg, c.policy).owner, c.owner, c.name);
});

test("failbackFor: the global setting or any applying advertisement annotated false", () => {
  const g = group("192.168.1.240");
  const sticky = ad("sticky", { annotations: { "vipd.io/failback": "false" } });
  assert.equal(failbackFor(g, config([ad("l2")]), true), true);
  assert.equal(failbackFor(g, config([ad("l2")]), false), false);
  assert.equal(failbackFor(g, config([ad("l2"), sticky]), true), false);
  assert.equal(
    failbackFor(g, config([ad("l2", { annotations: { "vipd.io/failback": "true" } })]), true),
    true,
  );
  const elsewhere = ad("other", { pools: ["elsewhere"], annotations: { "vipd.io/failback": "false" } });
  assert.equal(
    failbackFor(g, config([ad("l2"), elsewhere]), true),
    true,
    "an ad for another pool does not apply",
  );
});

test("quorum: strict majority of the expected members that are alive", () => {
  const cases: { states: MemberState[]; expect: number; ok: boolean }[] = [
    { states: ["alive"], expect: 3, ok: false },
    { states: ["alive", "alive"], expect: 3, ok: true },
    { states: ["alive", "alive", "suspect"], expect: 3, ok: true },
    { states: ["alive", "suspect", "suspect"], expect: 3, ok: false },
    { states: ["alive", "dead", "dead"], expect: 3, ok: false },
    { states: ["alive", "alive"], expect: 4, ok: false },
    { states: ["alive", "alive", "left"], expect: 4, ok: false },
    { states: ["alive", "alive", "alive"], expect: 4, ok: true },
    { states: ["alive"], expect: 1, ok: true },
  ];
  for (const c of cases) {
    const verdict = quorumOf(c.states, { mode: "majority", expect: c.expect });
    assert.equal(verdict.ok, c.ok, `${c.states.join(",")} of ${c.expect}`);
    if (!c.ok) assert.match(verdict.reason ?? "", /no quorum: this node sees \d+ of \d+ expected members/);
    assert.equal(quorumOf(c.states, { mode: "none", expect: c.expect }).ok, true);
  }
});

test("electOwner with a previous result: same answer as without, and the previous object when unchanged", () => {
  const names = ["n1", "n2", "n3", "n4"];
  const ip = "198.51.100.7";
  const states: MemberState[] = ["alive", "suspect", "dead", "left"];
  const view = fc.record({
    members: fc.subarray(names, { minLength: 1 }).chain((picked) =>
      fc.tuple(
        ...picked.map((name) =>
          fc.record({
            name: fc.constant(name),
            state: fc.constantFrom(...states),
            zone: fc.constantFrom("a", "b"),
            eligible: fc.boolean(),
          }),
        ),
      ),
    ),
    failback: fc.boolean(),
    currentOwner: fc.option(fc.constantFrom(...names), { nil: undefined }),
    claimants: fc.subarray(names),
    interfaces: fc.constantFrom([] as string[], ["eth1"]),
  });
  fc.assert(
    fc.property(view, view, (before, after) => {
      const elect = (v: typeof before, previous?: ElectionResult): ElectionResult => {
        const members: MemberInfo[] = v.members.map((m) => ({
          name: m.name,
          state: m.state,
          labels: { zone: m.zone },
        }));
        const eligibility: EligibilityView = new Map(
          v.members.map((m) => [m.name, new Map([[ip, { eligible: m.eligible }]])]),
        );
        const cfg = config([
          ad("l2", {
            interfaces: v.interfaces,
            preferredNodeSelectors: [{ weight: 10, preference: sel({ zone: "b" }) }],
          }),
        ]);
        const plan = planGroup(group(ip), cfg);
        const policy = { failback: v.failback, currentOwner: v.currentOwner, claimants: v.claimants };
        return electOwner(plan, members, eligibility, policy, previous);
      };
      const previous = elect(before);
      const fresh = elect(after);
      const reused = elect(after, previous);
      assert.deepEqual(reused, fresh);
      if (JSON.stringify(previous) === JSON.stringify(fresh)) assert.equal(reused, previous);
    }),
    { numRuns: 2000 },
  );
});
