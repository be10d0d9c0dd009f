// Issue 14: an overflow of the netlink watch's notification socket aborted the process
// ("Napi::Error: Error in native callback", SIGABRT, from the netlink package's native poll handler; see
// lib/net/netlink-socket-control.ts). A burst of address notifications far beyond the socket's buffer
// must leave the watch alive, resynced, and agreeing with the kernel.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Lab } from "./lab";

/** IPv6 /128 adds (and then removals): ~10x what a 64 KiB buffer (128 KiB in the kernel) holds. */
const COUNT = 1000;

interface OverflowReport {
  count: number;
  resyncsAfterAdd: number;
  resyncs: number;
  addEvents: number;
  removeEvents: number;
}

describe("netlink watch: notification overflow", { concurrency: false }, () => {
  let lab: Lab;

  before(async () => {
    lab = await Lab.create({ nodes: 1 });
  });

  after(async () => {
    await lab?.destroy();
  });

  test("a burst of 1,000 address notifications past the buffer: no abort, resync, view equals the kernel", async () => {
    const child = lab.spawnScript(lab.node(1).ns, "test/lab/watch-overflow-agent.js", [String(COUNT)]);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal })),
    );
    assert.deepEqual(exit, { code: 0, signal: null }, `watch process ended badly:\n${stderr}`);
    const report = JSON.parse(stdout.trim().split("\n").pop() ?? "") as OverflowReport;
    assert.equal(report.count, COUNT);
    // The buffer cannot hold the burst, so notifications were lost and the view was rebuilt from a dump.
    assert.ok(report.resyncsAfterAdd >= 1, `no resync after the adds: ${JSON.stringify(report)}`);
    assert.ok(
      report.resyncs > report.resyncsAfterAdd,
      `no resync after the removals: ${JSON.stringify(report)}`,
    );
    // Every change reached the listeners, as an ordinary event or as a difference found by the resync.
    assert.equal(report.addEvents, COUNT);
    assert.equal(report.removeEvents, COUNT);
  });
});
