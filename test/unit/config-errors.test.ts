// Every row of metallb.md's error tables (§1 pools, §2 L2Advertisements, §3 annotations/requests), with
// MetalLB's exact wording, each attached to the right object.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ad, docs, errors, parse, pool, service, warnings } from "./config-helpers";

const everyPool = ad("all", "  {}");

interface Row {
  readonly name: string;
  readonly yaml: string;
  readonly message: string;
  readonly object: string;
}

const poolRows: Row[] = [
  {
    name: "missing pool name",
    yaml: `apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {}\nspec: {addresses: [10.0.0.0/24]}`,
    message: "parsing address pool : missing pool name",
    object: "IPAddressPool/",
  },
  {
    name: "empty addresses",
    yaml: pool("p", []),
    message: "parsing address pool p: pool has no prefixes defined",
    object: "IPAddressPool/p",
  },
  {
    name: "missing addresses",
    yaml: `apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\nspec: {autoAssign: true}`,
    message: "parsing address pool p: pool has no prefixes defined",
    object: "IPAddressPool/p",
  },
  {
    name: "prefix too long",
    yaml: pool("p", ["10.0.0.0/33"]),
    message: 'parsing address pool p: invalid CIDR "10.0.0.0/33" in pool "p": invalid CIDR "10.0.0.0/33"',
    object: "IPAddressPool/p",
  },
  {
    name: "not a CIDR",
    yaml: pool("p", ["10.0.0.1"]),
    message: 'parsing address pool p: invalid CIDR "10.0.0.1" in pool "p": invalid CIDR "10.0.0.1"',
    object: "IPAddressPool/p",
  },
  {
    name: "invalid start IP",
    yaml: pool("p", ["10.0.0.x -10.0.0.5"]),
    message:
      'parsing address pool p: invalid CIDR "10.0.0.x -10.0.0.5" in pool "p": invalid IP range "10.0.0.x -10.0.0.5": invalid start IP "10.0.0.x "',
    object: "IPAddressPool/p",
  },
  {
    name: "invalid end IP",
    yaml: pool("p", ["10.0.0.1-nope"]),
    message:
      'parsing address pool p: invalid CIDR "10.0.0.1-nope" in pool "p": invalid IP range "10.0.0.1-nope": invalid end IP "nope"',
    object: "IPAddressPool/p",
  },
  {
    name: "start after end",
    yaml: pool("p", ["10.0.0.9 - 10.0.0.1"]),
    message:
      'parsing address pool p: invalid CIDR "10.0.0.9 - 10.0.0.1" in pool "p": invalid IP range "10.0.0.9 - 10.0.0.1": start IP "10.0.0.9" is after the end IP "10.0.0.1"',
    object: "IPAddressPool/p",
  },
  {
    name: "mixed-family range (deliberate improvement over MetalLB)",
    yaml: pool("p", ["10.0.0.1-fc00::1"]),
    message:
      'parsing address pool p: invalid CIDR "10.0.0.1-fc00::1" in pool "p": invalid IP range "10.0.0.1-fc00::1": start IP "10.0.0.1" and end IP "fc00::1" are of different address families',
    object: "IPAddressPool/p",
  },
  {
    name: "mixed-family range, IPv6 first",
    yaml: pool("p", ["::1-10.0.0.1"]),
    message:
      'parsing address pool p: invalid CIDR "::1-10.0.0.1" in pool "p": invalid IP range "::1-10.0.0.1": start IP "::1" and end IP "10.0.0.1" are of different address families',
    object: "IPAddressPool/p",
  },
  {
    name: "duplicate pool",
    yaml: docs(pool("p", ["10.0.0.0/24"]), pool("p", ["10.1.0.0/24"])),
    message: 'duplicate definition of pool "p"',
    object: "IPAddressPool/p",
  },
  {
    name: "overlap across pools (later CIDR inside earlier)",
    yaml: docs(pool("a", ["10.0.0.0/16"]), pool("b", ["10.0.5.0/24"])),
    message: 'CIDR "10.0.5.0/24" in pool "b" overlaps with already defined CIDR "10.0.0.0/16"',
    object: "IPAddressPool/b",
  },
  {
    name: "overlap across pools (later CIDR contains earlier)",
    yaml: docs(pool("a", ["10.0.5.0/24"]), pool("b", ["10.0.0.0/16"])),
    message: 'CIDR "10.0.0.0/16" in pool "b" overlaps with already defined CIDR "10.0.5.0/24"',
    object: "IPAddressPool/b",
  },
  {
    name: "equal CIDRs in one pool",
    yaml: pool("a", ["10.0.0.0/24", "10.0.0.5/24"]),
    message: 'CIDR "10.0.0.0/24" in pool "a" overlaps with already defined CIDR "10.0.0.0/24"',
    object: "IPAddressPool/a",
  },
  {
    name: "range overlapping a CIDR (range summarised first)",
    yaml: docs(pool("a", ["10.0.0.8/29"]), pool("b", ["10.0.0.1-10.0.0.20"])),
    message: 'CIDR "10.0.0.8/29" in pool "b" overlaps with already defined CIDR "10.0.0.8/29"',
    object: "IPAddressPool/b",
  },
  {
    name: "IPv6 overlap",
    yaml: docs(pool("a", ["2001:db8::/64"]), pool("b", ["2001:db8::10-2001:db8::20"])),
    message: 'CIDR "2001:db8::10/124" in pool "b" overlaps with already defined CIDR "2001:db8::/64"',
    object: "IPAddressPool/b",
  },
  {
    name: "duplicate namespace",
    yaml: pool("p", ["10.0.0.0/24"], "  serviceAllocation:\n    namespaces: [a, b, a]"),
    message: "parsing address pool p: duplicate definition in namespaces field",
    object: "IPAddressPool/p",
  },
  {
    name: "duplicate namespaceSelectors",
    yaml: pool(
      "p",
      ["10.0.0.0/24"],
      "  serviceAllocation:\n    namespaceSelectors: [{matchLabels: {team: a}}, {matchLabels: {team: a}}]",
    ),
    message: 'parsing address pool p: duplicate definition of namespaceSelectors "team=a"',
    object: "IPAddressPool/p",
  },
  {
    name: "duplicate serviceSelectors",
    yaml: pool(
      "p",
      ["10.0.0.0/24"],
      "  serviceAllocation:\n    serviceSelectors: [{matchLabels: {app: x}}, {matchLabels: {app: x}}]",
    ),
    message: 'parsing address pool p: duplicate definition of serviceSelectors "app=x"',
    object: "IPAddressPool/p",
  },
  {
    name: "duplicate match expression value",
    yaml: pool(
      "p",
      ["10.0.0.0/24"],
      "  serviceAllocation:\n    serviceSelectors: [{matchExpressions: [{key: env, operator: In, values: [a, a]}]}]",
    ),
    message: 'parsing address pool p: duplicate definition of match expression value in label selector "a"',
    object: "IPAddressPool/p",
  },
  {
    name: "duplicated match expression",
    yaml: pool(
      "p",
      ["10.0.0.0/24"],
      "  serviceAllocation:\n    namespaceSelectors: [{matchExpressions: [{key: env, operator: In, values: [a]}, {key: env, operator: In, values: [a]}]}]",
    ),
    message: 'parsing address pool p: duplicate definition of match expressions "env in (a)"',
    object: "IPAddressPool/p",
  },
  {
    name: "bad namespace selector operator",
    yaml: pool(
      "p",
      ["10.0.0.0/24"],
      "  serviceAllocation:\n    namespaceSelectors: [{matchExpressions: [{key: env, operator: Maybe}]}]",
    ),
    message:
      'parsing address pool p: invalid namespace label selector "" in ip pool p: "Maybe" is not a valid label selector operator',
    object: "IPAddressPool/p",
  },
  {
    name: "bad service selector key",
    yaml: pool(
      "p",
      ["10.0.0.0/24"],
      '  serviceAllocation:\n    serviceSelectors: [{matchLabels: {"bad key": x}}]',
    ),
    message:
      'parsing address pool p: invalid service label selector "bad key=x" in ip pool p: invalid label key "bad key": name part must be 1-63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric',
    object: "IPAddressPool/p",
  },
  {
    name: "In without values",
    yaml: pool(
      "p",
      ["10.0.0.0/24"],
      "  serviceAllocation:\n    serviceSelectors: [{matchExpressions: [{key: env, operator: In}]}]",
    ),
    message: `parsing address pool p: invalid service label selector "env in ()" in ip pool p: values: for 'in', 'notin' operators, values set can't be empty (key "env")`,
    object: "IPAddressPool/p",
  },
];

const adRows: Row[] = [
  {
    name: "duplicate ipAddressPools",
    yaml: docs(pool("a", ["10.0.0.0/24"]), ad("l2", "  ipAddressPools: [a, a]")),
    message: 'duplicate definition of ipAddressPools "a"',
    object: "L2Advertisement/l2",
  },
  {
    name: "duplicate ipAddressPoolSelectors",
    yaml: docs(
      pool("a", ["10.0.0.0/24"]),
      ad("l2", "  ipAddressPoolSelectors: [{matchLabels: {x: y}}, {matchLabels: {x: y}}]"),
    ),
    message: 'duplicate definition of ipAddressPoolSelectors "x=y"',
    object: "L2Advertisement/l2",
  },
  {
    name: "duplicate nodeSelectors",
    yaml: docs(
      pool("a", ["10.0.0.0/24"]),
      ad("l2", "  nodeSelectors: [{matchLabels: {x: y}}, {matchLabels: {x: y}}]"),
    ),
    message: 'duplicate definition of nodeSelectors "x=y"',
    object: "L2Advertisement/l2",
  },
  {
    name: "duplicate serviceSelectors",
    yaml: docs(
      pool("a", ["10.0.0.0/24"]),
      ad("l2", "  serviceSelectors: [{matchLabels: {x: y}}, {matchLabels: {x: y}}]"),
    ),
    message: 'duplicate definition of serviceSelectors "x=y"',
    object: "L2Advertisement/l2",
  },
  {
    name: "bad node selector",
    yaml: docs(
      pool("a", ["10.0.0.0/24"]),
      ad("l2", "  nodeSelectors: [{matchExpressions: [{key: k, operator: Exists, values: [v]}]}]"),
    ),
    message:
      'failed to parse node selector for l2: values: values set must be empty for exists and does not exist (key "k")',
    object: "L2Advertisement/l2",
  },
  {
    name: "bad service selector",
    yaml: docs(
      pool("a", ["10.0.0.0/24"]),
      ad("l2", "  serviceSelectors: [{matchExpressions: [{key: k, operator: Bogus}]}]"),
    ),
    message:
      'failed to parse service selector for l2: invalid service selector "": "Bogus" is not a valid label selector operator',
    object: "L2Advertisement/l2",
  },
  {
    name: "bad preferred node selector",
    yaml: docs(
      pool("a", ["10.0.0.0/24"]),
      ad(
        "l2",
        "  preferredNodeSelectors: [{weight: 10, preference: {matchExpressions: [{key: k, operator: NotIn}]}}]",
      ),
    ),
    message: `failed to parse preferred node selectors for l2: values: for 'in', 'notin' operators, values set can't be empty (key "k")`,
    object: "L2Advertisement/l2",
  },
  {
    name: "preferred weight out of range (CRD bounds 1..100)",
    yaml: docs(
      pool("a", ["10.0.0.0/24"]),
      ad("l2", "  preferredNodeSelectors: [{weight: 101, preference: {matchLabels: {a: b}}}]"),
    ),
    message: "spec.preferredNodeSelectors[0].weight: 101 is out of range 1..100",
    object: "L2Advertisement/l2",
  },
];

for (const row of [...poolRows, ...adRows]) {
  test(`config error: ${row.name}`, () => {
    const result = parse(docs(row.yaml, everyPool));
    assert.equal(result.config, undefined, "a config error must reject the whole configuration");
    const found = errors(result).filter((d) => d.message === row.message);
    assert.equal(
      found.length,
      1,
      `want exactly one "${row.message}", got:\n${errors(result)
        .map((d) => d.message)
        .join("\n")}`,
    );
    assert.equal(found[0].object, row.object);
    assert.ok(found[0].source && found[0].source.line >= 1 && found[0].source.file === "t.yaml");
  });
}

interface RequestRow {
  readonly name: string;
  readonly annotations: Record<string, string>;
  readonly spec?: string;
  readonly requestError?: string;
  readonly requested?: string[];
}

const requestRows: RequestRow[] = [
  {
    name: "both annotation and spec.loadBalancerIP",
    annotations: { "metallb.io/loadBalancerIPs": "10.0.0.1" },
    spec: "  loadBalancerIP: 10.0.0.2",
    requestError: "service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP",
  },
  {
    name: "both, with the deprecated annotation (the text names the new key, as MetalLB's does)",
    annotations: { "metallb.universe.tf/loadBalancerIPs": "10.0.0.1" },
    spec: "  loadBalancerIP: 10.0.0.2",
    requestError: "service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP",
  },
  {
    name: "unparsable annotation",
    annotations: { "metallb.io/loadBalancerIPs": "10.0.0.1, 10.0.0.x" },
    requestError: 'invalid metallb.io/loadBalancerIPs: "10.0.0.1, 10.0.0.x"',
  },
  {
    name: "trailing comma in annotation",
    annotations: { "metallb.io/loadBalancerIPs": "10.0.0.1," },
    requestError: 'invalid metallb.io/loadBalancerIPs: "10.0.0.1,"',
  },
  {
    name: "unparsable spec.loadBalancerIP",
    annotations: {},
    spec: "  loadBalancerIP: ten",
    requestError: 'invalid spec.loadBalancerIP "ten"',
  },
  {
    name: "two IPs of one family",
    annotations: { "metallb.io/loadBalancerIPs": "10.0.0.1,10.0.0.2" },
    requestError: 'IPFamilyForAddresses: same address family ["10.0.0.1" "10.0.0.2"]',
  },
  {
    name: "three IPs",
    annotations: { "metallb.io/loadBalancerIPs": "10.0.0.1, 2001:db8::1, 10.0.0.3" },
    requestError: 'IPFamilyForAddresses: invalid ips length 3 ["10.0.0.1" "2001:db8::1" "10.0.0.3"]',
  },
  {
    name: "dual-stack pair, canonicalised",
    annotations: { "metallb.io/loadBalancerIPs": " 10.0.0.1 , 2001:DB8:0::1" },
    requested: ["10.0.0.1", "2001:db8::1"],
  },
  {
    name: "spec.loadBalancerIP",
    annotations: {},
    spec: "  loadBalancerIP: 10.0.0.7",
    requested: ["10.0.0.7"],
  },
  {
    name: "metallb.io wins even when empty",
    annotations: { "metallb.io/loadBalancerIPs": "", "metallb.universe.tf/loadBalancerIPs": "10.0.0.1" },
    requested: [],
  },
];

for (const row of requestRows) {
  test(`service request: ${row.name}`, () => {
    const result = parse(
      docs(
        pool("p", ["10.0.0.0/24"]),
        ad("l2", "  {}"),
        service("s", { annotations: row.annotations, spec: row.spec }),
      ),
    );
    assert.deepEqual(errors(result), [], "request problems are per-service, not configuration errors");
    const svc = result.config?.services[0];
    assert.ok(svc);
    assert.equal(svc.requestError, row.requestError);
    assert.deepEqual(svc.requestedIPs, row.requested ?? []);
  });
}

test("deprecated annotations work, warn, and lose to metallb.io when both are present", () => {
  const result = parse(
    docs(
      pool("p", ["10.0.0.0/24"]),
      ad("l2", "  {}"),
      service("old", {
        annotations: {
          "metallb.universe.tf/address-pool": "p",
          "metallb.universe.tf/allow-shared-ip": "k1",
        },
      }),
      service("both", {
        annotations: {
          "metallb.io/address-pool": "",
          "metallb.universe.tf/address-pool": "p",
          "metallb.io/allow-shared-ip": "new",
          "metallb.universe.tf/allow-shared-ip": "old",
        },
      }),
    ),
  );
  const [both, old] = result.config?.services ?? [];
  assert.equal(old.addressPool, "p");
  assert.equal(old.sharingKey, "k1");
  assert.equal(both.addressPool, undefined, "an empty metallb.io/address-pool wins and means no pool");
  assert.equal(both.sharingKey, "new");
  const texts = warnings(result).map((d) => `${d.object}: ${d.message}`);
  for (const want of [
    "Service/default/old: Service uses deprecated annotation metallb.universe.tf/address-pool",
    "Service/default/old: Service uses deprecated annotation metallb.universe.tf/allow-shared-ip",
    "Service/default/both: Service uses deprecated annotation metallb.universe.tf/address-pool",
    "Service/default/both: Service uses deprecated annotation metallb.universe.tf/allow-shared-ip",
  ]) {
    assert.ok(texts.includes(want), `missing warning ${want} in ${texts.join("; ")}`);
  }
});

test("one run reports every error, each with file, line, column and object", () => {
  const text = docs(
    pool("a", ["10.0.0.0/33"]),
    pool("b", ["10.1.0.0/24"], "  autoAsign: false"),
    pool("b", ["10.2.0.0/24"]),
    ad("l2", "  ipAddressPools: [b, b]"),
  );
  const result = parse(text, "etc/vipd/pools.yaml");
  const lines = text.split("\n");
  const got = errors(result);
  assert.equal(got.length, 4, got.map((d) => d.message).join("\n"));
  for (const d of got) {
    assert.ok(d.source);
    assert.equal(d.source.file, "etc/vipd/pools.yaml");
    assert.ok(d.object);
  }
  const typo = got.find((d) => d.message.includes("autoAsign"));
  assert.equal(typo?.message, 'unknown field "spec.autoAsign" (did you mean "spec.autoAssign"?)');
  assert.ok(typo?.source);
  assert.equal(lines[typo.source.line - 1].slice(typo.source.column - 1), "autoAsign: false");
  const cidr = got.find((d) => d.message.includes("/33"));
  assert.ok(cidr?.source);
  assert.ok(lines[cidr.source.line - 1].slice(cidr.source.column - 1).startsWith('"10.0.0.0/33"'));
});

test("vipd.io/failback on an L2Advertisement must be true or false", () => {
  const sticky = (value: string): string =>
    docs(
      pool("p", ["10.0.0.0/24"]),
      `apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: l2\n  annotations: {vipd.io/failback: "${value}"}\nspec: {}`,
    );
  assert.deepEqual(errors(parse(sticky("false"))), []);
  const bad = errors(parse(sticky("nope")));
  assert.equal(bad.length, 1);
  assert.match(
    bad[0]?.message ?? "",
    /annotation vipd\.io\/failback: expected "true" or "false", got "nope"/,
  );
  const line =
    sticky("nope")
      .split("\n")
      .findIndex((l) => l.includes("vipd.io/failback")) + 1;
  assert.equal(bad[0]?.source?.line, line);
  assert.equal(bad[0]?.object, "L2Advertisement/l2");
});
