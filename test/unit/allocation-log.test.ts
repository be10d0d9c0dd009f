// Which services get an IPAllocated line (lib/daemon/allocation-sync.ts, logChanges): on a reload the ones
// whose IPs the edit changed; at start-up the ones that differ from the state file, so a restart on the same
// allocation logs none of its thousands of services and a first start logs every one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { activate, type ActiveConfig } from "../../lib/daemon/config-state";
import { AllocationSync } from "../../lib/daemon/allocation-sync";
import { createLogger } from "../../lib/daemon/log";
import { docs, parse, pool, service } from "./config-helpers";

const pools = pool("web", ["198.51.100.10-198.51.100.20"]);

function active(text: string): ActiveConfig {
  const outcome = activate(parse(text), undefined, new Date(0));
  if (!outcome.ok) throw new Error(outcome.errors.join("\n"));
  return outcome.active;
}

function allocatedLines(run: (sync: AllocationSync) => void): string[] {
  const dir = mkdtempSync(join(tmpdir(), "vipd-alloc-log-"));
  try {
    const lines: string[] = [];
    const sync = new AllocationSync(dir, createLogger({ write: (s: string) => lines.push(s) }), "test");
    run(sync);
    return lines
      .map((l) => JSON.parse(l) as { event: string; service?: string })
      .filter((l) => l.event === "IPAllocated")
      .map((l) => l.service ?? "");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("IPAllocated: every service on a first start, only changes against the state file on a restart", () => {
  const config = active(docs(pools, service("a"), service("b"), service("c")));
  const [a, b] = config.allocation.assignments;
  assert.ok(a && b);
  const rows: Array<[string, Parameters<AllocationSync["logChanges"]>[1], string[]]> = [
    ["first start (no state file)", undefined, ["default/a", "default/b", "default/c"]],
    ["restart on the same table", config.allocation.state, []],
    [
      "restart after the state file had b elsewhere and no c",
      { version: 1, assignments: { [a.service]: a, [b.service]: { ips: ["198.51.100.19"], pool: "web" } } },
      ["default/b", "default/c"],
    ],
    [
      "reload: the allocation in force before (its state)",
      { version: 1, assignments: { [a.service]: a, [b.service]: b } },
      ["default/c"],
    ],
  ];
  for (const [why, before, expected] of rows)
    assert.deepEqual(
      allocatedLines((sync) => sync.logChanges(config, before)),
      expected,
      why,
    );
});

test("IPAllocated on a reload: with the assignments in force before, only the added service and a moved one", () => {
  const before = active(docs(pools, service("a"), service("b"), service("d")));
  const edited = activate(
    parse(docs(pools, service("a"), service("b"), service("c"), service("d"))),
    before.allocation.state,
    new Date(0),
    before,
  );
  assert.ok(edited.ok);
  assert.deepEqual(
    allocatedLines((sync) =>
      sync.logChanges(edited.active, before.allocation.state, before.allocation.assignments),
    ),
    ["default/c"],
    "an added service",
  );
  // Assignments that are new objects with the same IPs (a full run) are compared by their IPs.
  const full = activate(
    parse(docs(pools, service("a"), service("b"), service("c"), service("d"))),
    JSON.parse(JSON.stringify(before.allocation.state)) as typeof before.allocation.state,
    new Date(0),
  );
  assert.ok(full.ok);
  const fresh = full.active;
  const [, second] = before.allocation.assignments;
  assert.ok(second);
  const moved = {
    version: 1 as const,
    assignments: {
      ...before.allocation.state.assignments,
      [second.service]: { ips: ["198.51.100.20"], pool: "web" },
    },
  };
  assert.deepEqual(
    allocatedLines((sync) => sync.logChanges(fresh, moved, before.allocation.assignments)),
    ["default/b", "default/c"],
    "a moved service and an added one",
  );
});
