// scripts/install.sh into a temp DESTDIR: the expected tree, a program that runs from it with production
// dependencies only, an edited /etc/vipd that survives a second install, and --uninstall.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  appendFileSync,
  existsSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { installInto, openTempDir, REPO_ROOT } from "./helpers";

let scratch: string;
let destdir: string;
let firstOutput: string;

const at = (path: string): string => join(destdir, path);
const mode = (path: string): number => statSync(at(path)).mode & 0o7777;
const vipdUser = (): string => spawnSync("getent", ["passwd", "vipd"], { encoding: "utf8" }).stdout;

before(() => {
  scratch = openTempDir("vipd-install-");
  destdir = join(scratch, "root");
  const userBefore = vipdUser();
  firstOutput = installInto(destdir);
  assert.equal(vipdUser(), userBefore, "a DESTDIR install creates no user");
});

after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test("the tree: program under /opt/vipd, command, unit, sysusers entry, default config", () => {
  for (const path of [
    "opt/vipd/bin/vipd",
    "opt/vipd/dist/daemon/vipd.js",
    "opt/vipd/dist/daemon/vipd-cli.js",
    // The V8 code cache the build made under the wrapper's flags (lib/daemon/code-cache.ts).
    "opt/vipd/dist/daemon/vipd-cli.js.cache",
    "opt/vipd/dist/lib/daemon/sd-notify.js",
    "opt/vipd/package.json",
    "opt/vipd/node_modules/koffi/package.json",
    "opt/vipd/node_modules/netlink/package.json",
    "opt/vipd/node_modules/raw-socket/package.json",
    "opt/vipd/node_modules/prom-client/package.json",
    "etc/systemd/system/vipd.service",
    "usr/lib/sysusers.d/vipd.conf",
    "etc/vipd/vipd.yaml",
    "etc/vipd/pools.yaml",
  ]) {
    assert.ok(existsSync(at(path)), `${path} installed`);
  }
  for (const absent of ["opt/vipd/dist/test", "opt/vipd/dist/bench", "opt/vipd/node_modules/typescript"]) {
    assert.equal(existsSync(at(absent)), false, `${absent} is not shipped`);
  }
  assert.equal(readlinkSync(at("usr/bin/vipd")), "/opt/vipd/bin/vipd");
  assert.equal(mode("opt/vipd/bin/vipd") & 0o111, 0o111, "the wrapper is executable");
  assert.match(
    readFileSync(at("opt/vipd/bin/vipd"), "utf8"),
    // The same node flags as the lab's launcher (VIPD_NODE_FLAGS), so the lab runs what ships.
    /^exec \/\S+ --max-semi-space-size=4 --single-threaded-gc --v8-pool-size=1 \/opt\/vipd\/dist\/daemon\/vipd\.js "\$@"$/m,
  );
  // And the same environment (VIPD_NODE_ENV).
  assert.match(readFileSync(at("opt/vipd/bin/vipd"), "utf8"), /^export MALLOC_ARENA_MAX=2$/m);
  assert.equal(
    readFileSync(at("etc/systemd/system/vipd.service"), "utf8"),
    readFileSync(join(REPO_ROOT, "systemd/vipd.service"), "utf8"),
  );
  for (const file of ["vipd.yaml", "pools.yaml"]) {
    assert.equal(
      readFileSync(at(`etc/vipd/${file}`), "utf8"),
      readFileSync(join(REPO_ROOT, "etc/vipd", file), "utf8"),
    );
    assert.equal(mode(`etc/vipd/${file}`), 0o640, `${file} is not world-readable`);
  }
  assert.equal(mode("etc/vipd"), 0o750);
  assert.match(firstOutput, /installed the default config/);
});

test("the installed program runs with its production dependencies alone", () => {
  const vipd = at("opt/vipd/dist/daemon/vipd.js");
  const version = execFileSync(process.execPath, [vipd, "version"], { encoding: "utf8" });
  const { version: expected } = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
    version: string;
  };
  assert.match(version, new RegExp(`^vipd ${expected.replaceAll(".", "\\.")} `));
  const validate = spawnSync(process.execPath, [vipd, "validate", "--config", at("etc/vipd/vipd.yaml")], {
    encoding: "utf8",
  });
  assert.equal(validate.status, 0, validate.stderr);
  assert.match(validate.stdout, /no IPAddressPool defined/, "the default config announces nothing");
});

test("a second install replaces the program but never touches an existing /etc/vipd", () => {
  appendFileSync(at("etc/vipd/vipd.yaml"), "# edited by the operator\n");
  writeFileSync(at("etc/vipd/gossip.key"), "operator key\n");
  const edited = readFileSync(at("etc/vipd/vipd.yaml"), "utf8");
  writeFileSync(at("opt/vipd/stale-file"), "from the previous version");
  const output = installInto(destdir);
  assert.match(output, /\/etc\/vipd exists: left as it is/);
  assert.equal(readFileSync(at("etc/vipd/vipd.yaml"), "utf8"), edited);
  assert.equal(readFileSync(at("etc/vipd/gossip.key"), "utf8"), "operator key\n");
  assert.equal(existsSync(at("opt/vipd/stale-file")), false, "the program tree is replaced as a whole");
  assert.ok(existsSync(at("opt/vipd/dist/daemon/vipd.js")));
});

test("--uninstall removes the program, command and unit, and keeps the config", () => {
  installInto(destdir, "--uninstall");
  for (const gone of [
    "opt/vipd",
    "usr/bin/vipd",
    "etc/systemd/system/vipd.service",
    "usr/lib/sysusers.d/vipd.conf",
  ]) {
    assert.equal(existsSync(at(gone)), false, `${gone} removed`);
  }
  assert.ok(existsSync(at("etc/vipd/vipd.yaml")), "config kept");
});
