import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const repo = join(__dirname, "..", "..", "..");
const vipd = join(repo, "dist", "daemon", "vipd.js");

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [vipd, ...args], { encoding: "utf8", cwd: repo });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempConfig(manifest: string, settings = "manifests: [pools.yaml]\n"): string {
  const dir = mkdtempSync(join(tmpdir(), "vipd-validate-"));
  writeFileSync(join(dir, "pools.yaml"), manifest);
  writeFileSync(join(dir, "vipd.yaml"), settings + `stateDir: ${join(dir, "state")}\n`);
  return join(dir, "vipd.yaml");
}

// The seed example ships as documentation (/usr/share/doc/vipd/examples); /etc/vipd/pools.yaml is empty.
const EXAMPLE = ["--config", "etc/vipd/vipd.yaml", "--manifest", "docs/examples/pools.yaml"];

test("the shipped default config loads and announces nothing until the operator adds pools and services", () => {
  const r = run("validate", "--config", "etc/vipd/vipd.yaml", "--json");
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const report = JSON.parse(r.stdout) as { ok: boolean; services: unknown[]; pools: unknown[] };
  assert.equal(report.ok, true);
  assert.deepEqual(report.pools, []);
  assert.deepEqual(report.services, []);
  assert.doesNotMatch(readFileSync(join(repo, "etc/vipd/pools.yaml"), "utf8"), /^[^#\n]/m, "comments only");
});

test("validate on the documented example prints the seed allocation and exits 0", () => {
  const r = run("validate", ...EXAMPLE);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const line = (service: string): string => r.stdout.split("\n").find((l) => l.startsWith(service)) ?? "";
  assert.match(line("default/dns-tcp"), /192\.168\.10\.6\s+dns-pool/);
  assert.match(line("default/dns-udp"), /192\.168\.10\.6\s+dns-pool/);
  assert.match(line("kube-system/traefik"), /192\.168\.10\.50\s+default-pool/);
  assert.match(r.stdout, /^POOL\s+AUTO-ASSIGN/m);
  assert.match(r.stdout, /^default\s+default-pool,dns-pool/m);
});

test("validate --json carries the same content", () => {
  const r = run("validate", ...EXAMPLE, "--json");
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as {
    ok: boolean;
    services: { service: string; ips: string[]; pool: string }[];
    pools: { name: string; ipv4: { inUse: number; total: number } }[];
  };
  assert.equal(report.ok, true);
  assert.deepEqual(
    report.services.map((s) => [s.service, s.ips.join(","), s.pool]),
    [
      ["default/dns-tcp", "192.168.10.6", "dns-pool"],
      ["default/dns-udp", "192.168.10.6", "dns-pool"],
      ["kube-system/traefik", "192.168.10.50", "default-pool"],
    ],
  );
  assert.deepEqual(
    report.pools.map((p) => [p.name, p.ipv4.inUse, p.ipv4.total]),
    [
      ["default-pool", 1, 11],
      ["dns-pool", 1, 1],
    ],
  );
});

test("validate exits 1 and names file, line and object on a bad pool", () => {
  const config = tempConfig(
    [
      "apiVersion: metallb.io/v1beta1",
      "kind: IPAddressPool",
      "metadata:",
      "  name: broken",
      "spec:",
      "  addresses:",
      "    - 10.0.0.1/33",
      "",
    ].join("\n"),
  );
  const r = run("validate", "--config", config);
  assert.equal(r.code, 1);
  const out = r.stdout + r.stderr;
  assert.match(out, /pools\.yaml:7:\d+: .*IPAddressPool\/broken: .*invalid CIDR "10\.0\.0\.1\/33"/);
});

test("validate exits 1 when a service cannot be allocated, and shows the error in its row", () => {
  const config = tempConfig(
    [
      "apiVersion: metallb.io/v1beta1",
      "kind: IPAddressPool",
      "metadata: {name: tiny}",
      "spec: {addresses: [198.51.100.10/32]}",
      "---",
      "apiVersion: v1",
      "kind: Service",
      "metadata: {name: a}",
      "spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}]}",
      "---",
      "apiVersion: v1",
      "kind: Service",
      "metadata: {name: b}",
      "spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}]}",
      "",
    ].join("\n"),
  );
  const r = run("validate", "--config", config);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^default\/a\s+198\.51\.100\.10\s+tiny/m);
  assert.match(r.stdout, /^default\/b\s+<pending>\s+no available IPs/m);
});

test("an unknown settings key is an error with a did-you-mean hint", () => {
  const config = tempConfig("", "manifests: [pools.yaml]\nnodeNmae: x\n");
  const r = run("validate", "--config", config);
  assert.equal(r.code, 1);
  assert.match(r.stdout + r.stderr, /vipd\.yaml:2:1: .*nodeNmae.*did you mean "nodeName"/);
});
