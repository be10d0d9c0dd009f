import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  migrateState,
  readAllocationState,
  StateFileVersionError,
  STATE_VERSION,
  StateFileWriter,
  writeAllocationState,
  type StateMigration,
} from "../../lib/alloc/state-file";
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

test("state file: the writer's version is recorded, and read back beside the state", () => {
  withDir((dir) => {
    const path = join(dir, "allocations.json");
    writeAllocationState(path, sample, "0.2.0");
    const raw = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    assert.equal(raw.version, STATE_VERSION);
    assert.equal(raw.writtenBy, "0.2.0");
    assert.deepEqual(readAllocationState(path), { state: sample, writtenBy: "0.2.0" });
  });
});

test("state file: the file vipd 0.1.0 wrote (version 1, no writtenBy) reads as it is", () => {
  // Byte for byte what 0c363b2's writeAllocationState produced (JSON.stringify(state, null, 2)).
  withDir((dir) => {
    const path = join(dir, "allocations.json");
    writeFileSync(path, `${JSON.stringify(sample, null, 2)}\n`);
    assert.deepEqual(readAllocationState(path), { state: sample });
  });
});

test("state file: a newer or unknown format version is refused with an error, never dropped", () => {
  const cases: [string, string, RegExp][] = [
    [
      "newer",
      '{"version": 2, "writtenBy": "0.3.0", "assignments": {}}',
      /has format version 2, newer than the version 1 this vipd reads \(written by vipd 0\.3\.0\)/,
    ],
    ["far newer", '{"version": 17, "assignments": {}}', /format version 17, newer/],
    ["no version", '{"assignments": {}}', /unknown format version undefined/],
    ["string version", '{"version": "1", "assignments": {}}', /unknown format version "1"/],
    ["zero", '{"version": 0, "assignments": {}}', /unknown format version 0/],
    ["fraction", '{"version": 1.5, "assignments": {}}', /unknown format version 1.5/],
  ];
  withDir((dir) => {
    for (const [name, content, pattern] of cases) {
      const path = join(dir, "allocations.json");
      writeFileSync(path, content);
      assert.throws(
        () => readAllocationState(path, "vipd 0.2.0"),
        (error: unknown) => {
          assert.ok(error instanceof StateFileVersionError, name);
          assert.match(error.message, pattern, name);
          assert.match(error.message, new RegExp(`^state file ${path} `), name);
          assert.match(error.message, /vipd 0\.2\.0 refuses to start .* move the file away/, name);
          return true;
        },
        name,
      );
      // Refused, not replaced: the file is still there, unchanged.
      assert.equal(readFileSync(path, "utf8"), content, name);
    }
  });
});

test("state file: older versions are migrated step by step (table)", () => {
  const migrations: Record<number, StateMigration> = {
    1: (v1) => ({ ...v1, version: 2, assignments: v1.services }),
    2: (v2) => ({ ...v2, version: 3, migrated: true }),
  };
  const cases: {
    name: string;
    raw: Record<string, unknown>;
    current: number;
    expect: { from: number; value: Record<string, unknown> } | RegExp;
  }[] = [
    {
      name: "current version: unchanged",
      raw: { version: 3, assignments: {} },
      current: 3,
      expect: { from: 3, value: { version: 3, assignments: {} } },
    },
    {
      name: "one step",
      raw: { version: 2, assignments: { a: 1 } },
      current: 3,
      expect: { from: 2, value: { version: 3, assignments: { a: 1 }, migrated: true } },
    },
    {
      name: "two steps, in order",
      raw: { version: 1, services: { a: 1 } },
      current: 3,
      expect: { from: 1, value: { version: 3, services: { a: 1 }, assignments: { a: 1 }, migrated: true } },
    },
    { name: "no path", raw: { version: 1 }, current: 4, expect: /cannot migrate version 3/ },
    { name: "newer", raw: { version: 5 }, current: 3, expect: /format version 5, newer than the version 3/ },
    { name: "negative", raw: { version: -1 }, current: 3, expect: /unknown format version -1/ },
  ];
  for (const c of cases) {
    const got = migrateState(c.raw, c.current, migrations);
    if (c.expect instanceof RegExp) {
      assert.ok("refused" in got, c.name);
      assert.match(got.refused, c.expect, c.name);
    } else assert.deepEqual(got, c.expect, c.name);
  }
});

test("state file writer: the text is built and written a delay after the change, not inside it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vipd-state-"));
  try {
    const path = join(dir, "allocations.json");
    const writer = new StateFileWriter(path, "0.2.0", () => undefined, 50);
    writer.write(sample);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(existsSync(path), false, "nothing yet: the reload's step is not made to wait for it");
    // Then on its own, without a flush: the write and its fsyncs run on libuv's pool, which a loaded host
    // can hold up for a while (a fixed 200 ms failed once in a full run); a generous bound only.
    for (const end = Date.now() + 5000; !existsSync(path) && Date.now() < end;)
      await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      readAllocationState(path),
      { state: sample, writtenBy: "0.2.0" },
      "written without flush",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("state file writer: writes off the main thread, newest state last, no temp files; errors are reported", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vipd-state-"));
  try {
    const path = join(dir, "nested", "allocations.json");
    const errors: string[] = [];
    const writer = new StateFileWriter(path, "0.2.0", (e) => errors.push(e.message));
    writer.write(sample);
    writer.write({ version: 1, assignments: {} });
    writer.write(sample);
    await writer.flush();
    assert.deepEqual(readAllocationState(path), { state: sample, writtenBy: "0.2.0" });
    assert.deepEqual(readdirSync(join(dir, "nested")), ["allocations.json"]);
    assert.equal(errors.length, 0);
    writer.write({ version: 1, assignments: {} });
    await writer.flush();
    assert.deepEqual(readAllocationState(path).state, { version: 1, assignments: {} }, "a later write lands");

    const blocked = new StateFileWriter(join(path, "below-a-file.json"), undefined, (e) =>
      errors.push(e.message),
    );
    blocked.write(sample);
    await blocked.flush();
    assert.equal(errors.length, 1, "a failed write is reported, not thrown");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
