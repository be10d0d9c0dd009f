// sd_notify: the datagram format on a real AF_UNIX socket (file path and abstract), libsystemd when it
// loads, and the watchdog pacing with a fake clock.
import { test } from "node:test";
import assert from "node:assert/strict";
import koffi from "koffi";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  loopReport,
  ServiceNotifier,
  sockaddrUn,
  statusLine,
  type LoopReport,
} from "../../lib/daemon/sd-notify";
import { NotifyReceiver } from "../lab/notify-receiver";

const report = (over: Partial<LoopReport> = {}): LoopReport => ({
  ready: true,
  ownedIps: 2,
  totalIps: 4,
  membersAlive: 3,
  members: 3,
  ...over,
});

function withReceiver(path: string, body: (receiver: NotifyReceiver) => Promise<void>): () => Promise<void> {
  return async () => {
    const receiver = new NotifyReceiver(path);
    try {
      await body(receiver);
    } finally {
      receiver.close();
    }
  };
}

const folder = mkdtempSync(join(tmpdir(), "vipd-notify-"));
process.on("exit", () => rmSync(folder, { recursive: true, force: true }));

test("sockaddr_un: a path ends with NUL; an abstract name starts with NUL and has no terminator", () => {
  const path = sockaddrUn("/run/systemd/notify");
  assert.equal(path.readUInt16LE(0), 1);
  assert.equal(path.subarray(2).toString(), "/run/systemd/notify\0");
  const abstract = sockaddrUn("@vipd/notify");
  assert.equal(abstract.length, 2 + 1 + "vipd/notify".length);
  assert.equal(abstract[2], 0);
  assert.equal(abstract.subarray(3).toString(), "vipd/notify");
  assert.throws(() => sockaddrUn("/" + "x".repeat(120)), /too long/);
});

test("without NOTIFY_SOCKET the notifier is off and every call is a no-op", () => {
  const notifier = new ServiceNotifier({ env: { WATCHDOG_USEC: "5000000" } });
  assert.equal(notifier.enabled, false);
  assert.equal(notifier.watchdogPaceMs, undefined);
  notifier.loop(report());
  notifier.reloading();
  notifier.stopping();
  assert.equal(notifier.errors, 0);
});

test("status line says what this node owns and who is alive", () => {
  assert.equal(statusLine(report()), "owning 2 of 4 VIPs, 3/3 members alive");
  assert.equal(
    statusLine(report({ ready: false, ownedIps: 0 })),
    "waiting for peers; owning 0 of 4 VIPs, 3/3 members alive",
  );
});

for (const [label, path] of [
  ["a file socket", join(folder, "notify.sock")],
  ["an abstract socket", `@vipd-test-${process.pid}`],
] as const) {
  test(
    `datagram fallback to ${label}: READY=1 once, WATCHDOG=1 at half WATCHDOG_USEC, STATUS on change`,
    withReceiver(path, async (receiver) => {
      let now = 0;
      const notifier = new ServiceNotifier({
        env: { NOTIFY_SOCKET: path, WATCHDOG_USEC: "2000000" },
        transport: "socket",
        now: () => now,
      });
      assert.equal(notifier.transportKind, "socket");
      assert.equal(notifier.watchdogPaceMs, 1000);
      notifier.loop(report({ ready: false, ownedIps: 0 })); // t=0: watchdog + status, not ready yet
      now = 100;
      notifier.loop(report({ ready: false, ownedIps: 0 })); // nothing new
      now = 400;
      notifier.loop(report()); // ready + new status, watchdog not due (< pace/2)
      now = 1400;
      notifier.loop(report()); // watchdog due
      notifier.stopping();
      await receiver.waitFor("STOPPING=1", () => receiver.with("STOPPING", "1").length === 1, 2000);
      assert.deepEqual(
        receiver.messages.map((m) => m.text),
        [
          "WATCHDOG=1\nSTATUS=waiting for peers; owning 0 of 4 VIPs, 3/3 members alive",
          "READY=1\nSTATUS=owning 2 of 4 VIPs, 3/3 members alive",
          "WATCHDOG=1",
          "STOPPING=1\nSTATUS=stopping: handing the VIPs over",
        ],
      );
      assert.equal(notifier.errors, 0);
      notifier.close();
    }),
  );
}

test(
  "reload: RELOADING=1 with this process's CLOCK_MONOTONIC, then READY=1",
  withReceiver(join(folder, "reload.sock"), async (receiver) => {
    const notifier = new ServiceNotifier({ env: { NOTIFY_SOCKET: receiver.path }, transport: "socket" });
    assert.equal(notifier.watchdogPaceMs, undefined, "no WATCHDOG_USEC, no watchdog");
    notifier.loop(report());
    const before = process.hrtime.bigint() / 1000n;
    notifier.reloading();
    const after = process.hrtime.bigint() / 1000n;
    notifier.reloaded();
    await receiver.waitFor("READY=1 twice", () => receiver.with("READY", "1").length === 2, 2000);
    const reloading = receiver.with("RELOADING", "1");
    assert.equal(reloading.length, 1);
    const monotonic = BigInt(reloading[0]?.fields.get("MONOTONIC_USEC") ?? "0");
    assert.ok(
      monotonic >= before && monotonic <= after,
      `MONOTONIC_USEC ${monotonic} in [${before}, ${after}]`,
    );
    assert.ok(
      receiver.messages.indexOf(reloading[0]!) < receiver.messages.lastIndexOf(receiver.with("READY")[1]!),
    );
    notifier.close();
  }),
);

test("a WATCHDOG_PID naming another process turns the watchdog off (it is for that process)", () => {
  const path = join(folder, "unused.sock");
  const notifier = new ServiceNotifier({
    env: { NOTIFY_SOCKET: path, WATCHDOG_USEC: "1000000", WATCHDOG_PID: String(process.pid + 1) },
    transport: "socket",
  });
  assert.equal(notifier.watchdogPaceMs, undefined);
  const mine = new ServiceNotifier({
    env: { NOTIFY_SOCKET: path, WATCHDOG_USEC: "1000000", WATCHDOG_PID: String(process.pid) },
    transport: "socket",
  });
  assert.equal(mine.watchdogPaceMs, 500);
  notifier.close();
  mine.close();
});

test("a send that fails (nobody listening) is counted, never thrown into the daemon", () => {
  const notifier = new ServiceNotifier({
    env: { NOTIFY_SOCKET: join(folder, "nobody-here.sock") },
    transport: "socket",
  });
  notifier.loop(report());
  assert.equal(notifier.errors, 1);
  assert.match(notifier.lastError ?? "", /ENOENT|ECONNREFUSED/);
  notifier.close();
});

test(
  "auto: libsystemd's sd_notify when libsystemd.so.0 loads, else the datagram; the message arrives either way",
  withReceiver(join(folder, "auto.sock"), async (receiver) => {
    let hasLibsystemd = true;
    try {
      koffi.load("libsystemd.so.0");
    } catch {
      hasLibsystemd = false;
    }
    const saved = process.env.NOTIFY_SOCKET;
    process.env.NOTIFY_SOCKET = receiver.path;
    try {
      const notifier = new ServiceNotifier();
      assert.equal(notifier.transportKind, hasLibsystemd ? "libsystemd" : "socket");
      notifier.status("hello from vipd");
      await receiver.waitFor("STATUS", () => receiver.with("STATUS").length === 1, 2000);
      assert.equal(receiver.messages[0]?.text, "STATUS=hello from vipd");
      assert.equal(notifier.errors, 0, notifier.lastError);
      notifier.close();
    } finally {
      if (saved === undefined) delete process.env.NOTIFY_SOCKET;
      else process.env.NOTIFY_SOCKET = saved;
    }
  }),
);

test("loopReport: owned of all configured VIPs, alive of the members that have not left", () => {
  const groups = [{ ips: ["198.51.100.1", "2001:db8::1"] }, { ips: ["198.51.100.2"] }];
  const members = [{ state: "alive" }, { state: "suspect" }, { state: "dead" }, { state: "left" }];
  const report = loopReport(true, 2, groups, members);
  assert.deepEqual(report, { ready: true, ownedIps: 2, totalIps: 3, membersAlive: 1, members: 3 });
  assert.equal(statusLine(report), "owning 2 of 3 VIPs, 1/3 members alive");
});
