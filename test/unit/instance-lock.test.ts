// One vipd per host: the stateDir lock and the bind pre-checks, without a daemon.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { checkBindsFree, InstanceLock } from "../../lib/daemon/instance-lock";

test("a second lock on the same stateDir fails naming the holder's PID; released, it can be taken", () => {
  const dir = mkdtempSync(join(tmpdir(), "vipd-lock-"));
  try {
    const first = InstanceLock.acquire(join(dir, "state"));
    assert.equal(readFileSync(join(dir, "state", "vipd.lock"), "utf8"), `${process.pid}\n`);
    // flock locks belong to the open file description: a second open in this process conflicts too.
    assert.throws(
      () => InstanceLock.acquire(join(dir, "state")),
      new RegExp(`another vipd is already running with stateDir .*\\(PID ${process.pid}, lock `),
    );
    first.release();
    const again = InstanceLock.acquire(join(dir, "state"));
    again.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a gossip bind in use is refused with the holder's PID; a free one passes", async () => {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind({ address: "127.0.0.1", port: 0 }, resolve));
  const port = socket.address().port;
  try {
    await assert.rejects(
      checkBindsFree({ host: "127.0.0.1", port }, "127.0.0.1:0"),
      /gossip bind 127\.0\.0\.1:\d+ is already in use.*refusing to start/,
    );
  } finally {
    socket.close();
  }
  await checkBindsFree({ host: "127.0.0.1", port }, "127.0.0.1:0");
});
