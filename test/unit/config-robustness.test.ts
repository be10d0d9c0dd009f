// The malformed-input corpus: every input gives a clear, positioned diagnostic or a result; nothing
// throws or hangs. Big inputs are generated here rather than committed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatCidr } from "../../lib/ip";
import { parseManifests } from "../../lib/config/manifests";
import { ad, docs, errors, parse, pool, service } from "./config-helpers";

function mustNotThrow(text: string, path = "t.yaml"): ReturnType<typeof parse> {
  let result: ReturnType<typeof parse> | undefined;
  assert.doesNotThrow(() => {
    result = parse(text, path);
  });
  assert.ok(result);
  return result;
}

const syntaxCases: [string, string, number, number][] = [
  ["unclosed flow list", "apiVersion: v1\nkind: Namespace\nmetadata: {name: [a, b}\n", 3, 1],
  ["bad indentation", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n labels: {}\n", 5, 2],
  ["tab indentation", "apiVersion: v1\nkind: Namespace\nmetadata:\n\tname: a\n", 4, 1],
  ["duplicate key", "apiVersion: v1\nkind: Namespace\nkind: Namespace\nmetadata: {name: a}\n", 3, 1],
  [
    "unterminated quote (reported where the parser notices: end of input)",
    'apiVersion: v1\nkind: "Namespace\nmetadata: {name: a}\n',
    4,
    1,
  ],
];

for (const [name, text, line, column] of syntaxCases) {
  test(`YAML syntax error with position and the parser's message: ${name}`, () => {
    const result = mustNotThrow(text);
    const first = errors(result)[0];
    assert.ok(first, "a syntax error must be reported");
    assert.match(first.message, /^YAML syntax error: \S/);
    assert.equal(first.source?.file, "t.yaml");
    assert.ok(
      first.source && first.source.line >= 1 && first.source.line <= line,
      `line ${first.source?.line}`,
    );
    assert.ok(first.source && first.source.column >= 1 && column >= 1);
    assert.equal(result.config, undefined);
  });
}

test("a syntax error in one document does not hide errors in the others", () => {
  const result = mustNotThrow(docs("a: [", pool("p", ["bad"])));
  assert.equal(errors(result).length, 2);
});

const wrongTypes: [string, string, string][] = [
  [
    "addresses is a string",
    pool("p", []).replace("[]", '"10.0.0.0/24"'),
    'spec.addresses: expected a list, got string "10.0.0.0/24"',
  ],
  [
    "addresses item is a mapping",
    pool("p", []).replace("[]", "[{a: 1}]"),
    "spec.addresses[0]: expected a string, got a mapping",
  ],
  [
    "autoAssign is a string",
    pool("p", ["10.0.0.0/24"], '  autoAssign: "false"'),
    'spec.autoAssign: expected true or false, got string "false"',
  ],
  [
    "priority is a float",
    pool("p", ["10.0.0.0/24"], "  serviceAllocation: {priority: 1.5}"),
    "spec.serviceAllocation.priority: expected an integer, got number 1.5",
  ],
  [
    "spec is a list",
    "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\nspec: [1]",
    "spec: expected a mapping, got a list",
  ],
  [
    "metadata is a string",
    "apiVersion: v1\nkind: Namespace\nmetadata: nope",
    'metadata: expected a mapping, got string "nope"',
  ],
  [
    "labels value is a number",
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: n, labels: {a: 1}}",
    "metadata.labels.a: expected a string, got number 1",
  ],
  ["kind is a number", "apiVersion: v1\nkind: 5", "kind: expected a string, got number 5"],
  [
    "document is a list",
    "- 1\n- 2",
    "expected a Kubernetes object (a mapping with apiVersion and kind), got a list",
  ],
  [
    "document is a scalar",
    "hello",
    'expected a Kubernetes object (a mapping with apiVersion and kind), got string "hello"',
  ],
  ["no kind", "apiVersion: v1\nmetadata: {}", "kind is required"],
  [
    "ports is a mapping",
    service("s").replace("ports: [{port: 80}]", "ports: {port: 80}"),
    "spec.ports: expected a list, got a mapping",
  ],
  [
    "port is a string",
    service("s").replace("ports: [{port: 80}]", "ports: [{port: http}]"),
    'spec.ports[0].port: expected an integer, got string "http"',
  ],
  [
    "selector list where mapping",
    ad("l2", "  nodeSelectors: {matchLabels: {a: b}}"),
    "spec.nodeSelectors: expected a list, got a mapping",
  ],
  [
    "matchExpressions values is a string",
    ad("l2", "  nodeSelectors: [{matchExpressions: [{key: a, operator: In, values: b}]}]"),
    'spec.nodeSelectors[0].matchExpressions[0].values: expected a list, got string "b"',
  ],
  [
    "annotations value is a bool",
    service("s", { annotations: {} }).replace(
      "annotations: {}",
      "annotations: {metallb.io/allow-shared-ip: true}",
    ),
    "metadata.annotations.metallb.io/allow-shared-ip: expected a string, got boolean true",
  ],
  [
    "List items is a mapping",
    "apiVersion: v1\nkind: List\nitems: {a: 1}",
    "items: expected a list, got a mapping",
  ],
];

for (const [name, text, message] of wrongTypes) {
  test(`wrong type: ${name}`, () => {
    const result = mustNotThrow(text);
    const messages = errors(result).map((d) => d.message);
    assert.ok(messages.includes(message), `want ${JSON.stringify(message)} in ${JSON.stringify(messages)}`);
    assert.equal(result.config, undefined);
  });
}

const unknownFields: [string, string, string][] = [
  [
    "pool spec",
    pool("p", ["10.0.0.0/24"], "  avoidBuggyIps: true"),
    'unknown field "spec.avoidBuggyIps" (did you mean "spec.avoidBuggyIPs"?)',
  ],
  [
    "pool serviceAllocation",
    pool("p", ["10.0.0.0/24"], "  serviceAllocation: {namespace: [a]}"),
    'unknown field "spec.serviceAllocation.namespace" (did you mean "spec.serviceAllocation.namespaces"?)',
  ],
  [
    "advertisement spec",
    ad("l2", "  ipAddressPool: [a]"),
    'unknown field "spec.ipAddressPool" (did you mean "spec.ipAddressPools"?)',
  ],
  [
    "selector",
    ad("l2", "  nodeSelectors: [{matchLabel: {a: b}}]"),
    'unknown field "spec.nodeSelectors[0].matchLabel" (did you mean "spec.nodeSelectors[0].matchLabels"?)',
  ],
  [
    "metadata",
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: n, label: {}}",
    'unknown field "metadata.label" (did you mean "metadata.labels"?)',
  ],
  [
    "top level",
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\nspce: {}",
    'unknown field "spce" (did you mean "spec"?)',
  ],
  [
    "service port",
    service("s").replace("ports: [{port: 80}]", "ports: [{port: 80, protocl: UDP}]"),
    'unknown field "spec.ports[0].protocl" (did you mean "spec.ports[0].protocol"?)',
  ],
  [
    "service spec without a near match",
    service("s", { spec: "  zzzzzzzz: 1" }),
    'unknown field "spec.zzzzzzzz"',
  ],
];

for (const [name, text, message] of unknownFields) {
  test(`unknown field with did-you-mean: ${name}`, () => {
    const result = mustNotThrow(text);
    const messages = errors(result).map((d) => d.message);
    assert.ok(messages.includes(message), `want ${JSON.stringify(message)} in ${JSON.stringify(messages)}`);
  });
}

test("binary garbage gives a clear error, never a crash", () => {
  let seed = 12345;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let round = 0; round < 50; round++) {
    const bytes = Buffer.alloc(2048, 0);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
    const result = mustNotThrow(bytes.toString("utf8"), "garbage.bin");
    assert.ok(errors(result).length > 0);
    assert.equal(result.config, undefined);
  }
  const nul = mustNotThrow("apiVersion: v1\nkind: Names\u0000pace\n");
  assert.deepEqual(
    errors(nul).map((d) => [d.message, d.source?.line, d.source?.column]),
    [["file contains NUL bytes: this is not a YAML text file", 2, 12]],
  );
  // Without NULs: control characters and invalid UTF-8 replacement characters.
  for (let round = 0; round < 50; round++) {
    let text = "";
    for (let i = 0; i < 1000; i++) text += String.fromCharCode(1 + Math.floor(random() * 0xfffe));
    mustNotThrow(text);
  }
});

test("an alias bomb is bounded", () => {
  const lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"];
  for (let i = 1; i < 12; i++)
    lines.push(
      `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(", ")}]`,
    );
  const text = `apiVersion: v1\nkind: List\nitems: [${Array(20).fill("*a11").join(", ")}]\n${lines.join("\n")}\n`;
  const started = Date.now();
  const result = mustNotThrow(text);
  assert.ok(errors(result).length > 0);
  assert.ok(Date.now() - started < 5000);
});

test("a pool of 2^32 addresses is one CIDR, and huge IPv6 ranges are summarised, not expanded", () => {
  const started = Date.now();
  const result = mustNotThrow(
    docs(
      pool("everything", ["0.0.0.0-255.255.255.255", "2001:db8::1-2001:db8:ffff:ffff:ffff:ffff:ffff:fffe"]),
      ad("l2", "  {}"),
    ),
  );
  assert.deepEqual(errors(result), []);
  const cidrs = result.config?.pools[0].cidrs ?? [];
  assert.equal(formatCidr(cidrs[0]), "0.0.0.0/0");
  assert.ok(cidrs.length < 300, `${cidrs.length} CIDRs`);
  assert.ok(Date.now() - started < 2000);
});

test("a 10 MB file parses without crashing, within a generous bound", () => {
  const parts: string[] = [ad("l2", "  {}")];
  let size = 0;
  let i = 0;
  while (size < 10 * 1024 * 1024) {
    const text = pool(
      `pool-${i}`,
      [`${10 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`],
      "  autoAssign: true",
    );
    parts.push(text);
    size += text.length + 5;
    i++;
  }
  const text = docs(...parts);
  assert.ok(text.length >= 10 * 1024 * 1024);
  const started = Date.now();
  const result = mustNotThrow(text);
  const elapsed = Date.now() - started;
  assert.deepEqual(errors(result), []);
  assert.equal(result.config?.pools.length, i);
  assert.ok(elapsed < 30_000, `${elapsed} ms`);
  console.log(`# 10 MB file: ${i} pools, ${text.length} bytes, parsed in ${elapsed} ms`);
});

test("10,000 services and 100 pools parse well under a second", () => {
  const pools = Array.from({ length: 100 }, (_, p) =>
    pool(`pool-${String(p).padStart(3, "0")}`, [`10.${p}.0.0/16`]),
  );
  const services = Array.from({ length: 10_000 }, (_, s) =>
    service(`svc-${s}`, {
      namespace: `ns-${s % 50}`,
      labels: { app: `app-${s}` },
      annotations: s % 3 === 0 ? { "metallb.io/allow-shared-ip": `k${s % 7}` } : {},
    }),
  );
  const files = [
    { path: "pools.yaml", text: docs(...pools, ad("l2", "  {}")) },
    { path: "services.yaml", text: docs(...services) },
  ];
  parseManifests(files); // warm-up (JIT), then measure
  const runs: number[] = [];
  let result = parseManifests(files);
  for (let r = 0; r < 3; r++) {
    const started = process.hrtime.bigint();
    result = parseManifests(files);
    runs.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  assert.deepEqual(errors(result), []);
  assert.equal(result.config?.services.length, 10_000);
  assert.equal(result.config?.pools.length, 100);
  const best = Math.min(...runs);
  console.log(`# 10,000 services + 100 pools: ${runs.map((r) => r.toFixed(0)).join(", ")} ms`);
  assert.ok(best < 1500, `${best} ms`);
});
