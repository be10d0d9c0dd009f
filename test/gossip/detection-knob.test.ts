// The failure-detection knob (cluster.failureTimeoutMs): the timings it implies, its validation with a
// clear error, what `vipd status` shows, the gossip thread running with it, and the detector thread's raised
// scheduling priority (or a stated reason why not).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { join } from "node:path";
import { renderStatus } from "../../lib/cli/status-report";
import { parseSettings } from "../../lib/config/settings";
import { detectionTimings, gossipProfile, LAN, WAN } from "../../lib/gossip/config";
import { SimCluster } from "../../lib/gossip/sim-cluster";
import { ThreadedMemberlist } from "../../lib/gossip/threaded";
import type { DaemonStatus } from "../../lib/daemon/status-types";
import { loopbackThreadOptions } from "./thread-options";

test("failureTimeoutMs implies the detection timings: heartbeats at 1/6, suspicion at 4/6, the rest to the verdict", () => {
  assert.deepEqual(detectionTimings(150), {
    failureTimeoutMs: 150,
    heartbeatIntervalMs: 25,
    heartbeatTimeoutMs: 100,
    suspicionMinMs: 50,
    suspicionMaxMs: 1500,
  });
  assert.equal(LAN.failureTimeoutMs, 150);
  assert.equal(WAN.failureTimeoutMs, 3000);
  const tuned = gossipProfile("lan", { failureTimeoutMs: 600 });
  assert.equal(tuned.heartbeatIntervalMs, 100);
  assert.equal(tuned.heartbeatTimeoutMs, 400);
  assert.equal(tuned.probeIntervalMs, LAN.probeIntervalMs, "the rest of the profile stays");
  assert.throws(
    () => gossipProfile("lan", { failureTimeoutMs: 30 }),
    /failureTimeoutMs 30 is out of range 60\.\.60000/,
  );
});

test("cluster.failureTimeoutMs in the settings file: default null (the profile's), range checked with file and line", () => {
  const none = parseSettings("cluster: {profile: lan}\n", "/etc/vipd/vipd.yaml", {}, "h");
  assert.equal(none.settings?.cluster.failureTimeoutMs, null);
  const set = parseSettings("cluster:\n  failureTimeoutMs: 300\n", "/etc/vipd/vipd.yaml", {}, "h");
  assert.equal(set.settings?.cluster.failureTimeoutMs, 300);
  for (const [value, message] of [
    ["20", /cluster\.failureTimeoutMs: 20 is out of range 60\.\.60000/],
    ["1.5", /cluster\.failureTimeoutMs: expected an integer/],
    ['"fast"', /cluster\.failureTimeoutMs: expected an integer, got string "fast"/],
  ] as const) {
    const bad = parseSettings(`cluster:\n  failureTimeoutMs: ${value}\n`, "/etc/vipd/vipd.yaml", {}, "h");
    assert.equal(bad.settings, undefined, value);
    const error = bad.diagnostics.find((d) => d.severity === "error");
    assert.ok(error, value);
    assert.match(error.message, message);
    assert.equal(error.source?.file, "/etc/vipd/vipd.yaml");
    assert.equal(error.source?.line, 2);
  }
  // The shipped example states the knob.
  const example = readFileSync(join(__dirname, "..", "..", "..", "etc", "vipd", "vipd.yaml"), "utf8");
  assert.match(example, /failureTimeoutMs: null/);
});

test("a tuned failureTimeoutMs really governs detection (simulator: 600 ms detects in 450..700 ms, not ~150)", () => {
  const c = SimCluster.build(3, {
    seed: 515,
    insecure: true,
    config: gossipProfile("lan", { failureTimeoutMs: 600 }),
  });
  assert.ok(c.sched.runUntilTrue(() => c.converged(), 10_000, 10) !== undefined);
  c.sched.advance(1000);
  const t0 = c.sched.now();
  c.crash("node-2");
  const done = c.sched.runUntilTrue(() => c.allSee("node-2", "dead"), 5000, 1);
  assert.ok(done !== undefined);
  const ms = done - t0;
  assert.ok(ms >= 450 && ms <= 700, `detected after ${ms} ms`);
});

test("vipd status shows the detection timings and the detector thread's scheduling", () => {
  const status: DaemonStatus = {
    node: "a",
    version: "0",
    startedAt: new Date(0).toISOString(),
    ready: true,
    config: { loaded: true, stale: false, lastReload: null, digest: "0123456789abcdef", errors: [] },
    members: [],
    vips: [],
    allocationErrors: [],
    warnings: [],
    detection: {
      profile: "lan",
      failureTimeoutMs: 150,
      heartbeatIntervalMs: 25,
      suspectAfterMs: 100,
      scheduling: "SCHED_RR priority 10",
      helperScheduling: "6 helper threads nice -10",
    },
    events: [],
  };
  const text = renderStatus(status);
  assert.match(
    text,
    /failure detection: a member silent 150 ms is failed \(heartbeat every 25 ms, suspected after 100 ms; profile lan\); detector thread SCHED_RR priority 10, 6 helper threads nice -10$/m,
  );
  // Per member: the silence after which this node declares it failed, flagged when learned from long gaps.
  const withMembers: DaemonStatus = {
    ...status,
    members: [
      { ...member("a"), self: true },
      { ...member("b"), failedAfterMs: 150 },
      { ...member("c"), failedAfterMs: 241 },
    ],
  };
  const table = renderStatus(withMembers);
  assert.match(table, /^NODE\s+ADDRESS\s+STATE\s+VIPS\s+VERSION\s+FAILED AFTER$/m);
  assert.match(table, /^a \(this node\)\s+10\.0\.0\.a:7946\s+alive\s+0\s+\S+$/m);
  assert.match(table, /^b\s+\S+\s+alive\s+0\s+\S+\s+150 ms$/m);
  assert.match(table, /^c\s+\S+\s+alive\s+0\s+\S+\s+241 ms \(learned: long gaps\)$/m);
  const { detection: _omitted, ...older } = status;
  assert.doesNotMatch(
    renderStatus(older),
    /failure detection/,
    "a daemon without the field renders as before",
  );
});

function member(name: string): DaemonStatus["members"][number] {
  return {
    name,
    address: `10.0.0.${name}:7946`,
    state: "alive",
    incarnation: 1,
    manifestDigest: "",
    vips: 0,
    self: false,
    configMismatch: false,
    version: "0.2.0",
  };
}

test("the gossip thread runs with the configured timeout and reports how it is scheduled", async () => {
  const ml = await ThreadedMemberlist.start(loopbackThreadOptions("knob", { failureTimeoutMs: 240 }));
  try {
    assert.equal(ml.detection.failureTimeoutMs, 240);
    assert.equal(ml.detection.heartbeatIntervalMs, 40);
    assert.equal(ml.detection.suspectAfterMs, 160);
    assert.match(
      ml.detection.scheduling,
      /^(SCHED_RR priority 10|nice -10 \(real-time refused: .+\)|normal \(not raised: .+\))$/,
    );
    assert.match(
      ml.detection.helperScheduling ?? "",
      /^main thread (nice -10|normal \(not raised: .+\)), \d+ helper threads (nice -10|normal \(not raised: .+\))$/,
    );
    // The tests run as root (like CI): real-time scheduling must then have been granted.
    if (process.getuid?.() === 0) {
      assert.equal(ml.detection.scheduling, "SCHED_RR priority 10");
      assert.match(
        ml.detection.helperScheduling ?? "",
        /^main thread nice -10, \d+ helper threads nice -10$/,
      );
      // In /proc: the main thread and V8's helper threads run at nice -10, not real-time.
      const policies = readdirSync("/proc/self/task").map((tid) => {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return { tid: Number(tid), nice: Number(f[16]), policy: Number(f[38]) };
      });
      const main = policies.find((p) => p.tid === process.pid);
      assert.deepEqual([main?.policy, main?.nice], [0, -10], "main thread SCHED_OTHER, nice -10");
      assert.ok(
        policies.filter((p) => p.policy === 0 && p.nice === -10).length >= 2,
        `helper threads at nice -10: ${JSON.stringify(policies)}`,
      );
    }
  } finally {
    ml.stop();
  }
});

test("raiseThisThreadPriority changes only the calling thread, and says what it got", async () => {
  // In a worker, as in the daemon: the thread reports its outcome and its own policy from /proc.
  const code = `
    const { parentPort } = require("node:worker_threads");
    const { readFileSync } = require("node:fs");
    const { raiseThisThreadPriority } = require(${JSON.stringify(join(__dirname, "..", "..", "lib", "gossip", "priority.js"))});
    const outcome = raiseThisThreadPriority();
    const koffi = require("koffi");
    const tid = Number(koffi.load("libc.so.6").func("int gettid(void)")());
    const stat = readFileSync("/proc/self/task/" + tid + "/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    parentPort.postMessage({ outcome, tid, nice: Number(fields[16]), policy: Number(fields[38]) });
  `;
  const result = await new Promise<{
    outcome: { policy: string; value: number };
    tid: number;
    nice: number;
    policy: number;
  }>((resolve, reject) => {
    const w = new Worker(code, { eval: true });
    w.once("message", resolve);
    w.once("error", reject);
  });
  if (result.outcome.policy === "rr") assert.equal(result.policy, 2, "SCHED_RR in /proc");
  else if (result.outcome.policy === "nice") assert.equal(result.nice, -10);
  else assert.equal(result.policy, 0);
  assert.notEqual(result.tid, process.pid, "a worker thread, not the main thread");
  const main = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
  const mainFields = main.slice(main.lastIndexOf(")") + 2).split(" ");
  assert.equal(Number(mainFields[38]), 0, "the main thread keeps SCHED_OTHER");
});
