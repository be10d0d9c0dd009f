#!/usr/bin/env node
// Runs every compiled test file with Node's own test runner. Node 20's `--test` takes no globs, so the
// files are listed here; a filter argument narrows the run (`npm test -- config`).
"use strict";
const { readdirSync, statSync } = require("node:fs");
const { join } = require("node:path");
const { spawnSync } = require("node:child_process");

const root = join(__dirname, "..", "dist", "test");
function collect(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return collect(path);
    return name.endsWith(".test.js") ? [path] : [];
  });
}
const filters = process.argv.slice(2);
const files = collect(root)
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error("run-tests: no test files found under dist/test (did the build run?)");
  process.exit(1);
}
// Lab tests (namespaces, real daemons, timing bounds) need the host to themselves: two lab runs from two
// checkouts on one machine starve each other's daemons and fail on time, not on behaviour. A host-wide
// lock serialises runs that include lab files; a run of unit tests alone never waits.
const LAB_LOCK = "/run/lock/vipd-lab-tests.lock";
const LAB_LOCK_WAIT_S = 3600;
const LOCK_TIMED_OUT = 75; // EX_TEMPFAIL, so a timeout is not mistaken for a test failure
const needsHost = files.some((f) => /[\\/](lab|systemd)[\\/]/.test(f));
const testArgs = [process.execPath, "--test", "--test-reporter=spec", ...files];
let command = testArgs;
if (needsHost) {
  const probe = spawnSync("flock", ["-n", LAB_LOCK, "true"]);
  if (probe.error) {
    console.error(`run-tests: flock (util-linux) is needed to serialise lab runs: ${probe.error.message}`);
    process.exit(1);
  }
  if (probe.status !== 0) console.log(`run-tests: another lab run holds ${LAB_LOCK}; waiting for it`);
  command = ["flock", "-E", String(LOCK_TIMED_OUT), "-w", String(LAB_LOCK_WAIT_S), LAB_LOCK, ...testArgs];
}
const result = spawnSync(command[0], command.slice(1), { stdio: "inherit" });
if (needsHost && result.status === LOCK_TIMED_OUT) {
  console.error(`run-tests: gave up after ${LAB_LOCK_WAIT_S} s waiting for ${LAB_LOCK}; no test ran`);
}
process.exit(result.status ?? 1);
