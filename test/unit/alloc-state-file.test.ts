import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readAllocationState, writeAllocationState } from "../../lib/alloc/state-file";
import type { AllocationState } from "../../lib/alloc/types";

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "vipd-state-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const sample: AllocationState = {
  version: 1,
  assignments: {
    "default/dns-tcp": { ips: ["192.168.10.6"], pool: "dns-pool" },
    "kube-system/traefik": { ips: ["192.168.10.50", "2001:db8::1"], pool: "default-pool" },
  },
};

test("state file: write then read gives the same state, atomically, leaving no temp files", () => {
  withDir((dir) => {
    const path = join(dir, "nested", "allocations.json");
    writeAllocationState(path, sample);
    assert.deepEqual(readAllocationState(path), { state: sample });
    writeAllocationState(path, { version: 1, assignments: {} });
    assert.deepEqual(readAllocationState(path), { state: { version: 1, assignments: {} } });
    assert.deepEqual(readdirSync(join(dir, "nested")), ["allocations.json"]);
    assert.ok(readFileSync(path, "utf8").endsWith("\n"));
  });
});

test("state file: a missing file is a silent fresh start", () => {
  withDir((dir) => assert.deepEqual(readAllocationState(join(dir, "none.json")), {}));
});

test("state file: corrupt or wrongly shaped content is a warning and a fresh start", () => {
  const cases: [string, string, RegExp][] = [
    ["truncated JSON", '{"version": 1, "assign', /is not valid JSON/],
    ["binary garbage", "\u0000\u0001\u00ff\u00fe", /is not valid JSON/],
    ["empty file", "", /is not valid JSON/],
    ["array", "[]", /wrong shape: not a JSON object/],
    ["other version", '{"version": 2, "assignments": {}}', /unsupported version 2/],
    ["no assignments", '{"version": 1}', /"assignments" is not an object/],
    [
      "entry not an object",
      '{"version": 1, "assignments": {"a/b": 3}}',
      /assignment "a\/b" is not an object/,
    ],
    [
      "ips not strings",
      '{"version": 1, "assignments": {"a/b": {"pool": "p", "ips": [1]}}}',
      /has no list of IPs/,
    ],
    ["pool missing", '{"version": 1, "assignments": {"a/b": {"ips": []}}}', /has no pool name/],
  ];
  withDir((dir) => {
    for (const [name, content, pattern] of cases) {
      const path = join(dir, "state.json");
      writeFileSync(path, content);
      const read = readAllocationState(path);
      assert.equal(read.state, undefined, name);
      assert.match(read.warning ?? "", pattern, name);
      assert.match(read.warning ?? "", /starting from a fresh allocation$/, name);
    }
  });
});

test("state file: an unreadable path is a warning, not a throw", () => {
  withDir((dir) => {
    // A directory where the file should be fails with EISDIR even for root.
    const read = readAllocationState(dir);
    assert.equal(read.state, undefined);
    assert.match(read.warning ?? "", /cannot be read/);
  });
});

test("state file: a failed write throws and leaves the previous file intact", () => {
  withDir((dir) => {
    const path = join(dir, "state.json");
    writeAllocationState(path, sample);
    // The target path's parent is a regular file: creating the temp file fails.
    const blocked = join(dir, "state.json", "inner.json");
    assert.throws(() => writeAllocationState(blocked, sample));
    assert.deepEqual(readAllocationState(path), { state: sample });
  });
});
