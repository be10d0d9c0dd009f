// The holes a new user found in `vipd validate` (issue 16, point 1): each one now fails with a message that
// names the file, the line and the object, in the text and in --json alike.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey } from "../../lib/gossip/keyring";

const repo = join(__dirname, "..", "..", "..");
const vipd = join(repo, "dist", "daemon", "vipd.js");

function run(...args: string[]): { code: number | null; out: string; stdout: string } {
  const r = spawnSync(process.execPath, [vipd, ...args], { encoding: "utf8", cwd: repo });
  return { code: r.status, out: r.stdout + r.stderr, stdout: r.stdout };
}

const POOL =
  "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: tiny}\nspec: {addresses: [198.51.100.10/32]}\n";
const SERVICE = (name: string, extra = ""): string =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}${extra}}\nspec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}]}\n`;

/** A settings file plus pools.yaml in a fresh folder; `settings` is appended to the defaults. */
function setup(manifest: string, settings = "cluster: {insecure: true}\n"): { dir: string; config: string } {
  const dir = mkdtempSync(join(tmpdir(), "vipd-gaps-"));
  writeFileSync(join(dir, "pools.yaml"), manifest);
  writeFileSync(
    join(dir, "vipd.yaml"),
    `manifests: [pools.yaml]\nstateDir: ${join(dir, "state")}\n${settings}`,
  );
  return { dir, config: join(dir, "vipd.yaml") };
}

test("a misspelt MetalLB kind is an error with a did-you-mean hint, not a warning that exits 0", () => {
  const { config } = setup(
    POOL + "---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisment\nmetadata: {name: l2}\nspec: {}\n",
  );
  const r = run("validate", "--config", config);
  assert.equal(r.code, 1, r.out);
  assert.match(
    r.out,
    /pools\.yaml:7:7: error: L2Advertisment\/l2: kind "L2Advertisment" .*did you mean "L2Advertisement"\?/,
  );
  // A kind that is not a typo of ours (a Deployment pasted along) is still only a warning.
  const other = setup(POOL + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n");
  assert.equal(run("validate", "--config", other.config).code, 0);
});

test("an allocation error names the Service's file and line, and --json lists it in errors[]", () => {
  const { config } = setup(POOL + "---\n" + SERVICE("a") + "---\n" + SERVICE("b"));
  const text = run("validate", "--config", config);
  assert.equal(text.code, 1);
  assert.match(text.out, /pools\.yaml:11:\d+: error: Service\/default\/b: no available IPs/);
  const json = run("validate", "--config", config, "--json");
  assert.equal(json.code, 1);
  const report = JSON.parse(json.stdout) as { ok: boolean; errors: string[] };
  assert.equal(report.ok, false);
  assert.ok(report.errors.length > 0, "ok:false always comes with at least one error");
  assert.match(report.errors.join("\n"), /pools\.yaml:11:\d+: error: Service\/default\/b: no available IPs/);
});

test("a cluster.keyFile that does not exist fails validate, naming the settings line and how to create it", () => {
  const { dir, config } = setup(POOL, "cluster:\n  keyFile: missing.key\n");
  const r = run("validate", "--config", config);
  assert.equal(r.code, 1, r.out);
  assert.match(
    r.out,
    new RegExp(
      `vipd\\.yaml:4:3: error: cluster\\.keyFile ${join(dir, "missing.key")}: no such file; create it with \`vipd keygen >`,
    ),
  );
  // The same check guards `run`: a clear error and exit 1 before anything starts (no raw ENOENT).
  const started = run("run", "--config", config);
  assert.equal(started.code, 1);
  assert.match(started.out, /cluster\.keyFile .*missing\.key: no such file/);
  assert.doesNotMatch(started.out, /ENOENT/);
  // A keyring that is not one is an error too; a good one passes.
  writeFileSync(join(dir, "missing.key"), "not base64!\n");
  assert.match(run("validate", "--config", config).out, /error: cluster\.keyFile .*keyring line 1/);
  writeFileSync(join(dir, "missing.key"), generateKey() + "\n");
  assert.equal(run("validate", "--config", config).code, 0);
});

test("a directory given as --config is a clear error, not a raw EISDIR", () => {
  const { dir } = setup(POOL);
  const r = run("validate", "--config", dir);
  assert.equal(r.code, 1);
  assert.match(r.out, /cannot read settings file .*: it is a directory \(--config takes the settings file/);
  assert.doesNotMatch(r.out, /EISDIR/);
});

test("an empty manifest directory is an error; manifests without objects say so instead of a blank line", () => {
  const { dir, config } = setup(POOL);
  const empty = join(dir, "empty");
  mkdirSync(empty);
  const r = run("validate", "--config", config, "--manifest", empty);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /error: no manifest files: ".*empty" hold no \*\.yaml or \*\.yml file/);
  writeFileSync(join(empty, "blank.yaml"), "# nothing yet\n");
  const blank = run("validate", "--config", config, "--manifest", empty);
  assert.notEqual(blank.stdout.trim(), "");
  assert.match(blank.out, /no IPAddressPool in .*blank\.yaml: no service can get an IP/);
});
