// The daemon settings file: defaults, flags, unknown keys, relative paths, host:port checks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatDiagnostic } from "../../lib/config/diagnostics";
import { loadSettings, parseSettings, SETTINGS, type Settings } from "../../lib/config/settings";

/** The keys issue 2 defines; later issues add rows (cluster.insecure, ...) that these tests leave alone. */
function issue2Keys(s: Settings | undefined): unknown {
  if (!s) return undefined;
  const { bind, advertise, join, keyFile } = s.cluster;
  const { log: _log, ...rest } = s;
  return { ...rest, cluster: { bind, advertise, join, keyFile } };
}

test("an absent file means every default, plus the hostname label", () => {
  const { settings, diagnostics } = parseSettings(undefined, "/etc/vipd/vipd.yaml", {}, "node-a");
  assert.deepEqual(diagnostics, []);
  assert.deepEqual(issue2Keys(settings), {
    nodeName: "node-a",
    labels: { "kubernetes.io/hostname": "node-a" },
    manifests: ["/etc/vipd/pools.yaml"],
    stateDir: "/var/lib/vipd",
    cluster: { bind: "0.0.0.0:7946", advertise: null, join: [], keyFile: null },
    metrics: { listen: "127.0.0.1:7472" },
  });
});

test("every schema row has a default that passes its own check", () => {
  const { settings, diagnostics } = parseSettings("", "x.yaml", {}, "h");
  assert.deepEqual(diagnostics, []);
  assert.ok(settings);
  for (const row of SETTINGS) {
    const value = row.key.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], settings);
    assert.notEqual(value, undefined, row.key);
  }
});

test("file values, relative paths against the file's folder, advertise gets the bind port", () => {
  const text = `nodeName: n1
labels: {zone: a}
manifests: [pools.yaml, /srv/more]
stateDir: ../state
cluster:
  bind: 10.0.0.5:7000
  advertise: 10.0.0.5
  join: [peer1:7000, "[2001:db8::1]:7000"]
  keyFile: keys/ring
metrics:
  listen: "[::1]:9000"
`;
  const { settings, diagnostics } = parseSettings(text, "etc/vipd/vipd.yaml", {}, "host");
  assert.deepEqual(diagnostics, []);
  assert.deepEqual(issue2Keys(settings), {
    nodeName: "n1",
    labels: { zone: "a", "kubernetes.io/hostname": "n1" },
    manifests: ["etc/vipd/pools.yaml", "/srv/more"],
    stateDir: "etc/state",
    cluster: {
      bind: "10.0.0.5:7000",
      advertise: "10.0.0.5:7000",
      join: ["peer1:7000", "[2001:db8::1]:7000"],
      keyFile: "etc/vipd/keys/ring",
    },
    metrics: { listen: "[::1]:9000" },
  });
});

test("flags override the file; --join is repeatable and comma-separated", () => {
  const { settings, diagnostics } = parseSettings(
    "nodeName: fromfile\ncluster: {join: [a:1]}\n",
    "/etc/vipd/vipd.yaml",
    {
      nodeName: "fromflag",
      bind: "192.0.2.1:7946",
      join: ["b:1,c:2", " d:3 "],
      metricsListen: "0.0.0.0:9100",
      manifests: ["rel/pools.yaml"],
    },
    "h",
  );
  assert.deepEqual(diagnostics, []);
  assert.equal(settings?.nodeName, "fromflag");
  assert.deepEqual(settings?.cluster.join, ["b:1", "c:2", "d:3"]);
  assert.equal(settings?.cluster.bind, "192.0.2.1:7946");
  assert.equal(settings?.metrics.listen, "0.0.0.0:9100");
  assert.deepEqual(
    settings?.manifests,
    ["rel/pools.yaml"],
    "flag paths stay relative to the working directory",
  );
});

test("unknown keys, wrong types and bad host:port forms are positioned errors", () => {
  const text = `nodename: x
labels: [a]
cluster:
  bind: 0.0.0.0
  join: [good:1, "bad:0", "two:colons:1"]
  advertise: 0.0.0.0:1
  keyfile: k
metrics:
  listen: localhost:80
stateDir: 5
`;
  const { settings, diagnostics } = parseSettings(text, "v.yaml", {}, "h");
  assert.equal(settings, undefined);
  assert.deepEqual(diagnostics.map(formatDiagnostic), [
    'v.yaml:1:1: error: unknown setting "nodename" (did you mean "nodeName"?)',
    "v.yaml:2:9: error: labels: expected a mapping of label to value, got a list",
    'v.yaml:4:9: error: cluster.bind: "0.0.0.0" is not host:port (write IPv6 as [addr]:port)',
    "v.yaml:5:18: error: cluster.join: [1]: port 0 is out of range 1..65535",
    'v.yaml:6:14: error: cluster.advertise: "0.0.0.0:1": peers cannot reach an unspecified address or port 0',
    'v.yaml:7:3: error: unknown setting "cluster.keyfile" (did you mean "cluster.keyFile"?)',
    'v.yaml:9:11: error: metrics.listen: "localhost" is not an IP address (listen addresses must be IPs)',
    "v.yaml:10:11: error: stateDir: expected a path, got number 5",
  ]);
  const flags = parseSettings(undefined, "v.yaml", { bind: "nope" }, "h");
  assert.deepEqual(flags.diagnostics.map(formatDiagnostic), [
    'error: --bind: "nope" is not host:port (write IPv6 as [addr]:port)',
  ]);
});

test("syntax errors and garbage in the settings file are reported, not thrown", () => {
  for (const text of ["cluster: [\n", "a: b: c", "\u0000\u0001binary", "- just\n- a list\n", "cluster: 5"]) {
    const result = parseSettings(text, "v.yaml", {}, "h");
    assert.equal(result.settings, undefined, text);
    assert.ok(
      result.diagnostics.length > 0 && result.diagnostics.every((d) => d.source?.file === "v.yaml"),
      text,
    );
  }
});

test("loadSettings: missing default file = defaults, missing explicit file = error", () => {
  const dir = mkdtempSync(join(tmpdir(), "vipd-settings-"));
  try {
    const missing = loadSettings({ config: join(dir, "nope.yaml") });
    assert.equal(missing.settings, undefined);
    assert.match(missing.diagnostics[0].message, /cannot read settings file .*nope\.yaml: no such file/);
    writeFileSync(join(dir, "vipd.yaml"), "manifests: [pools.yaml]\n");
    const found = loadSettings({ config: join(dir, "vipd.yaml") });
    assert.deepEqual(found.settings?.manifests, [join(dir, "pools.yaml")]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("resilience settings: failback, quorum, expect", () => {
  const defaults = parseSettings(undefined, "v.yaml", {}, "h").settings;
  assert.equal(defaults?.cluster.failback, true);
  assert.equal(defaults?.cluster.quorum, "none");
  assert.equal(defaults?.cluster.expect, null);
  const set = parseSettings(
    "cluster:\n  failback: false\n  quorum: majority\n  expect: 5\n",
    "v.yaml",
    {},
    "h",
  );
  assert.deepEqual(
    [set.settings?.cluster.failback, set.settings?.cluster.quorum, set.settings?.cluster.expect],
    [false, "majority", 5],
  );
  const bad = parseSettings("cluster:\n  failback: no\n  quorum: most\n  expect: 0\n", "v.yaml", {}, "h");
  assert.deepEqual(bad.diagnostics.map(formatDiagnostic), [
    'v.yaml:2:13: error: cluster.failback: expected true or false, got string "no"',
    'v.yaml:3:11: error: cluster.quorum: expected one of none, majority, got string "most"',
    "v.yaml:4:11: error: cluster.expect: 0 is out of range 1..10000",
  ]);
});
