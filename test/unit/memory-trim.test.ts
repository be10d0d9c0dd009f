// The periodic malloc trim: runs every period until stopped, and stops asking where libc has no
// malloc_trim (the binding throws).
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { startMemoryTrim, trimMallocNow } from "../../lib/daemon/memory-trim";
import { libc } from "../../lib/net/libc";

test("memory trim: every period until stopped; a trim that throws stops the timer", () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    let calls = 0;
    const stop = startMemoryTrim(() => ++calls, 5000);
    mock.timers.tick(4999);
    assert.equal(calls, 0);
    mock.timers.tick(1);
    assert.equal(calls, 1);
    // One period per tick(): Node 20's mock timers do not run a timer set during a tick() in that tick().
    mock.timers.tick(5000);
    mock.timers.tick(5000);
    assert.equal(calls, 3);
    stop();
    for (let i = 0; i < 4; i++) mock.timers.tick(5000);
    assert.equal(calls, 3, "stopped");

    let failing = 0;
    startMemoryTrim(() => {
      failing++;
      throw new Error("malloc_trim: no such symbol");
    }, 1000);
    for (let i = 0; i < 5; i++) mock.timers.tick(1000);
    assert.equal(failing, 1, "asked once, then no more");
  } finally {
    mock.timers.reset();
  }
});

test("memory trim: a period during a burst is skipped, and the trim resumes after it", () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    let calls = 0;
    let busy = true;
    const stop = startMemoryTrim(
      () => ++calls,
      1000,
      () => busy,
    );
    mock.timers.tick(1000);
    mock.timers.tick(1000);
    assert.equal(calls, 0, "no trim while busy");
    busy = false;
    mock.timers.tick(1000);
    assert.equal(calls, 1, "the next period after the burst trims");
    stop();
  } finally {
    mock.timers.reset();
  }
});

test("memory trim: glibc's malloc_trim is bound and answers 0 or 1", () => {
  const result = libc().mallocTrim();
  assert.ok(result === 0 || result === 1, `malloc_trim returned ${result}`);
});

test("memory trim: a burst's end trims once; a libc without malloc_trim is no error", () => {
  let calls = 0;
  trimMallocNow(() => ++calls);
  assert.equal(calls, 1);
  assert.doesNotThrow(() =>
    trimMallocNow(() => {
      throw new Error("malloc_trim: no such symbol");
    }),
  );
});
