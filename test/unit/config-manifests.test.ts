// Manifest semantics: the seed example, kinds and Lists, pool/advertisement resolution, serviceAllocation
// normalisation, determinism and the digest.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { formatCidr } from "../../lib/ip";
import { formatDiagnostic } from "../../lib/config/diagnostics";
import { loadManifests, manifestBytes } from "../../lib/config/load";
import { parseManifests } from "../../lib/config/manifests";
import { canonicalJson } from "../../lib/config/digest";
import { EVERYTHING } from "../../lib/config/selectors";
import { ad, docs, errors, parse, pool, service, warnings } from "./config-helpers";

const fixtures = join(__dirname, "..", "..", "..", "test", "fixtures", "config");

test("the seed example parses cleanly into the expected plan input", () => {
  const result = loadManifests([join(fixtures, "seed.yaml")]);
  assert.deepEqual(result.diagnostics.map(formatDiagnostic), []);
  const config = result.config;
  assert.ok(config);
  assert.deepEqual(
    config.pools.map((p) => [p.name, p.cidrs.map(formatCidr), p.autoAssign]),
    [
      [
        "default-pool",
        ["192.168.10.50/31", "192.168.10.52/30", "192.168.10.56/30", "192.168.10.60/32"],
        true,
      ],
      ["dns-pool", ["192.168.10.6/32"], false],
    ],
  );
  assert.deepEqual(
    config.advertisements.map((a) => [a.name, a.pools]),
    [["default", ["default-pool", "dns-pool"]]],
  );
  assert.deepEqual(
    config.services.map((s) => [
      s.key,
      s.requestedIPs,
      s.sharingKey,
      s.ports.map((p) => `${p.protocol}/${p.port}`),
    ]),
    [
      ["default/dns-tcp", ["192.168.10.6"], "dns-svc", ["TCP/53"]],
      ["default/dns-udp", ["192.168.10.6"], "dns-svc", ["UDP/53"]],
      ["kube-system/traefik", [], undefined, ["TCP/80", "TCP/443"]],
    ],
  );
});

test("kubectl List output loads as it is; other Service types are skipped silently", () => {
  const result = loadManifests([join(fixtures, "kubectl-list.yaml")]);
  assert.deepEqual(errors(result), []);
  assert.deepEqual(warnings(result), []);
  const [web] = result.config?.services ?? [];
  assert.equal(result.config?.services.length, 1);
  assert.equal(web.key, "shop/web");
  assert.equal(web.backendKey, "app=web,tier=front");
  assert.equal(web.externalTrafficPolicy, "Local");
  assert.deepEqual(web.ipFamilies, ["IPv4"]);
  assert.equal(result.config?.pools[0].name, "lan");
});

test("other kinds and apiVersions are warnings and ignored", () => {
  const result = parse(
    docs(
      pool("p", ["10.0.0.0/24"]),
      ad("l2", "  {}"),
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {whatever: 1}",
      "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: peer}\nspec: {}",
      "apiVersion: metallb.io/v1beta2\nkind: IPAddressPool\nmetadata: {name: q}\nspec: {addresses: [10.0.0.0/24]}",
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {}",
    ),
  );
  assert.deepEqual(errors(result), []);
  assert.deepEqual(
    warnings(result).map((d) => `${d.object}: ${d.message}`),
    [
      'Deployment/d: kind "Deployment" (apiVersion "apps/v1") is not used by vipd: ignored',
      "BGPPeer/peer: BGPPeer is not used by vipd (layer 2 only): ignored",
      'IPAddressPool/q: apiVersion "metallb.io/v1beta2" is not supported for IPAddressPool (expected "metallb.io/v1beta1"): ignored',
      'ConfigMap/c: kind "ConfigMap" (apiVersion "v1") is not used by vipd: ignored',
    ],
  );
  assert.deepEqual(
    result.config?.pools.map((p) => p.name),
    ["p"],
  );
});

test("L2Advertisement pool resolution: names ∪ selectors, empty = all, selectors matching nothing = none", () => {
  const result = parse(
    docs(
      pool("a", ["10.0.1.0/24"], ""),
      pool("b", ["10.0.2.0/24"]).replace("metadata:\n", "metadata:\n  labels: {tier: gold}\n"),
      pool("c", ["10.0.3.0/24"]),
      pool("lonely", ["10.0.4.0/24"]),
      ad("all", "  interfaces: [eth0]"),
      ad(
        "named-and-selected",
        "  ipAddressPools: [a, missing]\n  ipAddressPoolSelectors: [{matchLabels: {tier: gold}}]",
      ),
      ad("nothing", "  ipAddressPoolSelectors: [{matchLabels: {tier: none}}]"),
    ).replace("  interfaces: [eth0]", "  interfaces: [eth0]\n  ipAddressPools: [a, b, c]"),
  );
  assert.deepEqual(errors(result), []);
  const pools = Object.fromEntries((result.config?.advertisements ?? []).map((a) => [a.name, a.pools]));
  assert.deepEqual(pools, { all: ["a", "b", "c"], "named-and-selected": ["a", "b"], nothing: [] });
  const texts = warnings(result).map((d) => `${d.object}: ${d.message}`);
  assert.ok(
    texts.includes('L2Advertisement/named-and-selected: ipAddressPools: no IPAddressPool named "missing"'),
  );
  assert.ok(
    texts.includes("L2Advertisement/nothing: selects no IPAddressPool: this advertisement announces nothing"),
  );
  assert.ok(
    texts.includes(
      'IPAddressPool/lonely: no L2Advertisement covers pool "lonely": its addresses are allocated but never announced',
    ),
    texts.join("\n"),
  );

  const everything = parse(docs(pool("a", ["10.0.1.0/24"]), pool("b", ["10.0.2.0/24"]), ad("all", "  {}")));
  assert.deepEqual(everything.config?.advertisements[0].pools, ["a", "b"]);
  assert.deepEqual(warnings(everything), []);
});

test("serviceAllocation normalisation follows MetalLB", () => {
  const result = parse(
    docs(
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a, labels: {team: a}}",
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-b, labels: {team: b}}",
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: other}",
      pool("none", ["10.0.1.0/24"]),
      pool("priority-only", ["10.0.2.0/24"], "  serviceAllocation: {priority: 5}"),
      pool(
        "mixed",
        ["10.0.3.0/24"],
        "  serviceAllocation:\n    priority: 1\n    namespaces: [listed]\n    namespaceSelectors: [{matchLabels: {team: a}}, {matchExpressions: [{key: team, operator: In, values: [b]}]}]\n    serviceSelectors: [{matchLabels: {app: x}}]",
      ),
      pool(
        "unmatched",
        ["10.0.4.0/24"],
        "  serviceAllocation:\n    namespaceSelectors: [{matchLabels: {team: z}}]",
      ),
      ad("all", "  {}"),
    ),
  );
  assert.deepEqual(errors(result), []);
  const byName = Object.fromEntries((result.config?.pools ?? []).map((p) => [p.name, p.serviceAllocation]));
  assert.equal(byName.none, undefined);
  assert.deepEqual(byName["priority-only"], { priority: 5, namespaces: [], serviceSelectors: [EVERYTHING] });
  assert.deepEqual(byName.mixed, {
    priority: 1,
    namespaces: ["listed", "team-a", "team-b"],
    serviceSelectors: [{ matchLabels: { app: "x" }, matchExpressions: [] }],
  });
  assert.deepEqual(byName.unmatched, { priority: 0, namespaces: [], serviceSelectors: [] });
  assert.ok(
    warnings(result).some(
      (d) => d.object === "IPAddressPool/unmatched" && d.message.includes("match no Namespace"),
    ),
  );
  assert.deepEqual(Object.keys(result.config?.namespaces ?? {}), ["other", "team-a", "team-b"]);
});

test("metadata.namespace on pools and advertisements is accepted and ignored; Services default to 'default'", () => {
  const result = parse(
    docs(
      pool("p", ["10.0.0.0/24"]).replace("metadata:\n", "metadata:\n  namespace: metallb-system\n"),
      ad("l2", "  {}").replace("metadata:\n", "metadata:\n  namespace: elsewhere\n"),
      "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: LoadBalancer, ports: [{port: 1}]}",
    ),
  );
  assert.deepEqual(errors(result), []);
  assert.equal(result.config?.services[0].key, "default/s");
});

test("file order and read order do not change the result or the digest", () => {
  const a = { path: "a.yaml", text: docs(pool("p1", ["10.0.0.0/16"]), ad("l2", "  {}")) };
  const b = { path: "b.yaml", text: docs(pool("p2", ["10.0.5.0/24"]), service("s1"), service("s0")) };
  const one = parseManifests([a, b]);
  const two = parseManifests([b, a]);
  assert.deepEqual(one, two);
  assert.equal(
    errors(one)[0].message,
    'CIDR "10.0.5.0/24" in pool "p2" overlaps with already defined CIDR "10.0.0.0/16"',
  );
  assert.equal(
    errors(one)[0].source?.file,
    "b.yaml",
    "YAML order is path order, so b.yaml's pool is the later one",
  );
});

test("the digest ignores formatting, comments, key order and file split, and sees real changes", () => {
  const base = parse(docs(pool("p", ["10.0.0.0/24"], "  autoAssign: false"), ad("l2", "  {}"), service("s")));
  const reformatted = parseManifests([
    {
      path: "x.yaml",
      text: `# comment\nkind: L2Advertisement\napiVersion: metallb.io/v1beta1\nmetadata: {name: l2}\nspec: {}\n`,
    },
    {
      path: "y.yaml",
      text: docs(
        service("s"),
        `spec:\n  autoAssign: false\n  addresses:\n  - 10.0.0.0/24\nmetadata: {name: p}\nkind: IPAddressPool\napiVersion: metallb.io/v1beta1`,
      ),
    },
  ]);
  assert.equal(reformatted.digest, base.digest);
  assert.match(base.digest, /^[0-9a-f]{64}$/);
  const changed = parse(
    docs(pool("p", ["10.0.0.0/24"], "  autoAssign: true"), ad("l2", "  {}"), service("s")),
  );
  assert.notEqual(changed.digest, base.digest);
});

test("loadManifests reads directories (*.yaml, *.yml, sorted) and reports missing paths", () => {
  const dir = mkdtempSync(join(tmpdir(), "vipd-config-"));
  try {
    mkdirSync(join(dir, "d"));
    writeFileSync(join(dir, "d", "10-pools.yaml"), pool("p", ["10.0.0.0/24"]));
    writeFileSync(join(dir, "d", "20-ads.yml"), ad("l2", "  {}"));
    writeFileSync(join(dir, "d", "notes.txt"), "not yaml: [");
    const result = loadManifests([join(dir, "d"), join(dir, "missing.yaml")]);
    assert.deepEqual(result.files, [join(dir, "d", "10-pools.yaml"), join(dir, "d", "20-ads.yml")]);
    assert.equal(result.config, undefined);
    assert.deepEqual(
      errors(result).map((d) => d.message),
      [
        `manifest path ${JSON.stringify(join(dir, "missing.yaml"))} cannot be read: no such file or directory`,
      ],
    );
    const fine = loadManifests([join(dir, "d")]);
    assert.deepEqual(fine.diagnostics, []);
    assert.equal(fine.config?.advertisements[0].pools[0], "p");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("duplicate objects are errors; Service structure problems are configuration errors", () => {
  const result = parse(
    docs(
      pool("p", ["10.0.0.0/24"]),
      ad("l2", "  {}"),
      ad("l2", "  {}"),
      service("s"),
      service("s"),
      service("bad", { spec: "  externalTrafficPolicy: Locale\n  ipFamilies: [IPv4, IPv6]" }).replace(
        "ports: [{port: 80}]",
        "ports: [{port: 80}, {port: 80, protocol: TCP}, {port: 70000, protocol: tcp}]",
      ),
    ),
  );
  const texts = errors(result).map((d) => `${d.object}: ${d.message}`);
  assert.deepEqual(texts.sort(), [
    'L2Advertisement/l2: duplicate definition of L2Advertisement "l2"',
    'Service/default/bad: spec.externalTrafficPolicy: unsupported value "Locale", expected one of Cluster, Local (did you mean "Local"?)',
    "Service/default/bad: spec.ipFamilies lists two families but spec.ipFamilyPolicy is SingleStack (Kubernetes rejects this)",
    "Service/default/bad: spec.ports[1]: duplicate port TCP/80",
    "Service/default/bad: spec.ports[2].port: 70000 is out of range 1..65535",
    'Service/default/bad: spec.ports[2].protocol: unsupported value "tcp", expected one of TCP, UDP, SCTP (did you mean "TCP"?)',
    'Service/default/s: duplicate definition of Service "default/s"',
  ]);
});

test("a Service without a type warns; a misspelt type is an error; a loadBalancerClass skips it", () => {
  const result = parse(
    docs(
      pool("p", ["10.0.0.0/24"]),
      ad("l2", "  {}"),
      "apiVersion: v1\nkind: Service\nmetadata: {name: untyped}\nspec: {ports: [{port: 1}]}",
      "apiVersion: v1\nkind: Service\nmetadata: {name: typo}\nspec: {type: Loadbalancer}",
      "apiVersion: v1\nkind: Service\nmetadata: {name: classy}\nspec: {type: LoadBalancer, loadBalancerClass: other}",
    ),
  );
  assert.deepEqual(
    errors(result).map((d) => d.message),
    [
      'spec.type: unsupported value "Loadbalancer", expected one of ClusterIP, NodePort, LoadBalancer, ExternalName (did you mean "LoadBalancer"?)',
    ],
  );
  const texts = warnings(result).map((d) => d.object);
  assert.deepEqual(texts, ["Service/default/untyped", "Service/default/classy"]);
});

/** canonicalJson as 0.2.0 first wrote it (a join per level): the digest peers compare must not move. */
function canonicalJsonReference(value: unknown): string {
  if (value === null || typeof value !== "object") {
    return typeof value === "bigint" ? JSON.stringify(value.toString()) : (JSON.stringify(value) ?? "null");
  }
  if (Array.isArray(value)) return ["[", value.map(canonicalJsonReference).join(","), "]"].join("");
  if (value instanceof Map) return canonicalJsonReference(Object.fromEntries(value));
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  return [
    "{",
    keys.map((k) => [JSON.stringify(k), ":", canonicalJsonReference(record[k])].join("")).join(","),
    "}",
  ].join("");
}

test("canonical JSON and the digest are the same as the earlier builds' (mixed versions compare digests)", () => {
  // The seed example's digest, as 0.2.0 before this change computed it.
  const seed = loadManifests([join(fixtures, "seed.yaml")]);
  assert.equal(seed.digest, "a6b956388817074d4daf7ab86fb5dc9efca2c8adeba50a526b0a01dee3bf255d");
  assert.equal(
    canonicalJson({ b: [1, { z: null, a: 'x"y', m: new Map([["k", 2n]]) }], a: undefined, é: 1, Z: true }),
    '{"Z":true,"a":null,"b":[1,{"a":"x\\"y","m":{"k":"2"},"z":null}],"é":1}',
  );
  // Random nested values: keys in any order (upper, lower, digits, non-ASCII), lists, scalars of every kind.
  let seedValue = 7;
  const random = (n: number): number => {
    seedValue = (seedValue * 1103515245 + 12345) % 2147483648;
    return seedValue % n;
  };
  const keyChars = ["a", "B", "z", "0", "9", "é", "_", "-", "Ω"];
  const value = (depth: number): unknown => {
    const pick = random(depth > 3 ? 5 : 8);
    if (pick === 0) return null;
    if (pick === 1) return random(1000) - 500;
    if (pick === 2) return `s${random(100)}"\\${keyChars[random(keyChars.length)]}`;
    if (pick === 3) return random(2) === 0;
    if (pick === 4) return undefined;
    if (pick === 5) return Array.from({ length: random(4) }, () => value(depth + 1));
    const record: Record<string, unknown> = {};
    for (let i = random(6); i > 0; i--)
      record[Array.from({ length: 1 + random(3) }, () => keyChars[random(keyChars.length)]).join("")] = value(
        depth + 1,
      );
    return record;
  };
  for (let i = 0; i < 500; i++) {
    const v = value(0);
    assert.equal(canonicalJson(v), canonicalJsonReference(v));
  }
});

test("manifestBytes: the size of every manifest a load would read (a folder's YAML files); unreadable paths count 0", () => {
  const dir = mkdtempSync(join(tmpdir(), "vipd-config-"));
  try {
    mkdirSync(join(dir, "pools"));
    writeFileSync(join(dir, "pools", "a.yaml"), "x".repeat(100));
    writeFileSync(join(dir, "pools", "b.yml"), "y".repeat(50));
    writeFileSync(join(dir, "one.yaml"), "z".repeat(7));
    assert.equal(manifestBytes([join(dir, "pools"), join(dir, "one.yaml")]), 157);
    assert.equal(manifestBytes([join(dir, "missing.yaml")]), 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
