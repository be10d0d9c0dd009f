import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ManifestWatch, POLL_MS, SETTLE_MS, settleWait } from "../../lib/daemon/manifest-watch";
import { waitUntil } from "../wait";

test("a watcher event for a write already read (markRead) is dropped; a new write still reloads", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vipd-watch-"));
  const file = join(dir, "pools.yaml");
  writeFileSync(file, "# v1\n");
  const triggers: string[] = [];
  // As the daemon's reload does: the files it is about to load are the ones read.
  const watch: ManifestWatch = new ManifestWatch([file], (trigger) => {
    watch.markRead();
    triggers.push(trigger);
  });
  try {
    watch.start();
    await watch.whenReady();
    writeFileSync(file, "# v2, a longer text\n");
    await waitUntil("the write to reload", () => triggers.length >= 1, 10_000);

    // chokidar drops a path's change events for 50 ms after one it emitted: let that pass.
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The daemon's tick noticed this write and loaded it before the watcher's event came.
    writeFileSync(file, "# v3, longer still, so size differs\n");
    watch.markRead();
    await waitUntil("the event for the write read to be dropped", () => watch.staleEvents >= 1, 10_000);
    assert.equal(triggers.length, 1);

    await new Promise((resolve) => setTimeout(resolve, 200));
    writeFileSync(file, "# v4\n");
    await waitUntil("a later write to reload again", () => triggers.length >= 2, 10_000);
    assert.deepEqual(triggers, ["file change", "file change"]);
  } finally {
    await watch.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a write the watcher does not report (its event late behind a busy loop, or lost) is loaded by the poll, settled", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vipd-watch-"));
  const file = join(dir, "pools.yaml");
  writeFileSync(file, "# v1\n");
  const triggers: Array<{ trigger: string; text: string }> = [];
  const watch: ManifestWatch = new ManifestWatch([file], (trigger) => {
    watch.markRead();
    triggers.push({ trigger, text: readFileSync(file, "utf8") });
  });
  try {
    watch.start();
    await watch.whenReady();
    // chokidar's events silenced: only the poll can see the write.
    (watch as unknown as { watcher: { removeAllListeners(): void } }).watcher.removeAllListeners();
    const started = Date.now();
    writeFileSync(file, "# v2, first half");
    await new Promise((resolve) => setTimeout(resolve, 5));
    writeFileSync(file, "# v2, first half, second half\n");
    await waitUntil("the poll to load the write", () => triggers.length >= 1, 10_000);
    assert.ok(Date.now() - started >= SETTLE_MS, "read only once the files were quiet for the settle time");
    assert.deepEqual(triggers, [{ trigger: "file change", text: "# v2, first half, second half\n" }]);
    await new Promise((resolve) => setTimeout(resolve, 3 * POLL_MS));
    assert.equal(triggers.length, 1, "one load for the one write");
  } finally {
    await watch.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("pollMs 0: the signature is checked only when the owner calls poll() (the daemon's pulse)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vipd-watch-"));
  const file = join(dir, "pools.yaml");
  writeFileSync(file, "# v1\n");
  const triggers: string[] = [];
  const watch: ManifestWatch = new ManifestWatch(
    [file],
    (trigger) => {
      watch.markRead();
      triggers.push(trigger);
    },
    0,
  );
  try {
    watch.start();
    await watch.whenReady();
    (watch as unknown as { watcher: { removeAllListeners(): void } }).watcher.removeAllListeners();
    writeFileSync(file, "# v2, unreported\n");
    await new Promise((resolve) => setTimeout(resolve, 3 * POLL_MS));
    assert.deepEqual(triggers, [], "no timer of its own");
    watch.poll();
    await waitUntil("the owner's poll to load the write", () => triggers.length >= 1, 10_000);
    watch.poll();
    await new Promise((resolve) => setTimeout(resolve, 2 * SETTLE_MS));
    assert.deepEqual(triggers, ["file change"], "a poll after the read finds nothing new");
  } finally {
    await watch.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("settleWait: the files are read once quiet for the settle time by their own change times", () => {
  const t = 1_000_000;
  const full = settleWait(t, t, t);
  assert.ok(full >= SETTLE_MS, `a change this instant waits at least ${SETTLE_MS} ms (got ${full})`);
  // The event came late (a busy host): the write is settled already and is read at once.
  assert.equal(settleWait(t, t - 200, t), 0);
  // A later step of the writer (its event dropped by chokidar) moves the read: the wait runs from it.
  assert.equal(settleWait(t + 10, t + 8, t), full - 2);
  // Never past the give-up bound, whatever the files say; a change time in the future waits one settle.
  assert.equal(settleWait(t + 5_000, t + 5_000, t), 0);
  assert.equal(settleWait(t, t + 60_000, t), full);
});
