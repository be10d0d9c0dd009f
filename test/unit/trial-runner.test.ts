// The trial runner: the I/O half of "eligibility comes back by itself" (the planner decides what to try).
import assert from "node:assert/strict";
import { test } from "node:test";
import { TrialRunner } from "../../lib/daemon/trial-runner";
import type { Logger } from "../../lib/daemon/log";

const quiet = { log: () => {} } as unknown as Logger;

test("one trial per IP at a time; results (errors and successes) reach the next take(), once", async () => {
  const pending = new Map<string, (error: string | undefined) => void>();
  let calls = 0;
  let finished = 0;
  const runner = new TrialRunner(
    {
      trial: (ip) => {
        calls++;
        return new Promise((resolve) => pending.set(ip, resolve));
      },
    },
    quiet,
    () => finished++,
  );
  runner.run([
    { ip: "198.51.100.1", interface: "eth0" },
    { ip: "198.51.100.2", interface: "eth0" },
  ]);
  runner.run([{ ip: "198.51.100.1", interface: "eth0" }]);
  assert.equal(calls, 2, "no second trial while one runs for the same IP");
  assert.deepEqual(runner.take(), []);
  pending.get("198.51.100.1")?.(undefined);
  pending.get("198.51.100.2")?.("EPERM");
  await new Promise((r) => setImmediate(r));
  assert.equal(finished, 2);
  assert.deepEqual(runner.take(), [
    { ip: "198.51.100.1", error: undefined },
    { ip: "198.51.100.2", error: "EPERM" },
  ]);
  assert.deepEqual(runner.take(), []);
  runner.run([{ ip: "198.51.100.1", interface: "eth0" }]);
  assert.equal(calls, 3, "tried again once the first finished");
});
