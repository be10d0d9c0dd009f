// The heap mode: a burst restores V8's default flags at once, later bursts extend it, --optimize-for-size
// comes back BURST_MS after the last one, an unmanaged mode never switches, and `gc` is had without
// --expose-gc on the command line.
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  BURST_MS,
  exposedGc,
  HeapMode,
  processHeapMode,
  SIZE_FLAGS,
  SPEED_FLAGS,
} from "../../lib/daemon/heap-mode";

test("heap mode: a burst clears the flag, later bursts extend it, it is set again after the last", () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    let now = 0;
    const set: string[] = [];
    const told: string[] = [];
    const mode = new HeapMode(
      (flags) => set.push(flags),
      true,
      () => now,
      (inBurst, cause) => told.push(`${inBurst}:${cause}`),
    );
    mode.burst("reload (file change)");
    assert.deepEqual(set, [SPEED_FLAGS]);
    assert.equal(mode.inBurst, true);
    now = 3000;
    mock.timers.tick(3000);
    mode.burst("node2 dead"); // extends to 7000
    assert.deepEqual(set, [SPEED_FLAGS], "a running burst is extended, not restarted");
    now = BURST_MS;
    mock.timers.tick(BURST_MS - 3000);
    assert.deepEqual(set, [SPEED_FLAGS], "still in the extended burst");
    now = 7000;
    mock.timers.tick(7000 - BURST_MS);
    assert.deepEqual(set, [SPEED_FLAGS, SIZE_FLAGS]);
    assert.equal(mode.inBurst, false);
    assert.deepEqual(told, ["true:reload (file change)", `false:${BURST_MS} ms after the last burst`]);
    mode.burst("node2 join", 500);
    assert.equal(mode.bursts, 2);
    mode.close();
    assert.deepEqual(set.slice(2), [SPEED_FLAGS, SIZE_FLAGS], "close ends a burst");
    mode.close();
    assert.equal(set.length, 4, "close without a burst sets nothing");
    assert.deepEqual(told.slice(2), ["true:node2 join", "false:stopping"]);
  } finally {
    mock.timers.reset();
  }
});

test("heap mode: a burst that ends runs one full collection after the flag is set again; close does not", () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    let now = 0;
    const calls: string[] = [];
    const mode = new HeapMode(
      (flags) => calls.push(flags),
      true,
      () => now,
      undefined,
      () => calls.push("gc"),
    );
    mode.burst("start-up with a large config");
    now = BURST_MS;
    mock.timers.tick(BURST_MS);
    assert.deepEqual(calls, [SPEED_FLAGS, SIZE_FLAGS, "gc"]);
    mode.burst("reload (file change)");
    mode.close();
    assert.deepEqual(calls.slice(3), [SPEED_FLAGS, SIZE_FLAGS], "no collection on stop");
  } finally {
    mock.timers.reset();
  }
});

test("heap mode: an unmanaged mode never switches; the process's mode starts managed, with gc", () => {
  const set: string[] = [];
  const mode = new HeapMode((flags) => set.push(flags), false);
  mode.burst("reload");
  mode.close();
  assert.deepEqual(set, []);
  assert.equal(mode.inBurst, false);
  const unmanaged = processHeapMode(undefined, false);
  unmanaged.burst("reload");
  assert.equal(unmanaged.inBurst, false);
  const managed = processHeapMode();
  managed.burst("reload", 1);
  assert.equal(managed.inBurst, true);
  managed.close();
});

test("heap mode: gc is exposed with the flag set only while it is picked up", () => {
  const set: string[] = [];
  const gc = exposedGc((flags) => {
    set.push(flags);
    // The real setter, so the new context does see gc.
    require("node:v8").setFlagsFromString(flags);
  });
  assert.deepEqual(set, ["--expose-gc", "--no-expose-gc"]);
  assert.equal(typeof gc, "function");
  assert.equal((globalThis as { gc?: unknown }).gc, undefined, "not a global of this context");
  gc();
});

test("heap mode: a burst restores V8's flag hash, so Node's built-in modules load from their code cache", () => {
  // V8 rejects a code cache made under another flag hash, and Node's built-in modules come with one made
  // under V8's defaults (under a V8 flag they took ~2.4x as long to require). In a child, Node's own count
  // of the built-ins it compiled with and without their cache, as the mode switches to size and back.
  const script = `
    const { internalBinding } = require("internal/test/binding");
    const { processHeapMode } = require(${JSON.stringify(require.resolve("../../lib/daemon/heap-mode"))});
    const withoutCache = () => internalBinding("builtins").getCacheUsage().compiledWithoutCache.size;
    const mode = processHeapMode();
    const atStart = withoutCache();
    mode.burst("test"); mode.close();
    require("node:zlib");
    const sized = withoutCache() - atStart;
    mode.burst("test");
    const before = withoutCache();
    require("node:tls"); require("node:readline");
    const speed = withoutCache() - before;
    mode.close();
    console.log(JSON.stringify({ atStart, sized: sized > 0, speed }));`;
  const out = spawnSync(process.execPath, ["--expose-internals", "--no-warnings", "-e", script], {
    encoding: "utf8",
  });
  assert.equal(out.status, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), { atStart: 0, sized: true, speed: 0 });
});

test("heap mode: V8 takes the flag at run time: a burst of allocation runs with fewer full GCs", () => {
  // In a child: the same allocation-heavy work (short-lived 10,000-entry maps, as a
  // reload builds) under the size flag, then in a burst, its full (major) GCs counted by V8's performance entries.
  // Measured here: 2 in a burst against 5-6 without.
  const script = `
    const { PerformanceObserver, constants } = require("node:perf_hooks");
    const { processHeapMode } = require(${JSON.stringify(require.resolve("../../lib/daemon/heap-mode"))});
    let majors = 0;
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++;
    }).observe({ entryTypes: ["gc"] });
    const work = () => { const keep = []; for (let r = 0; r < 40; r++) { const m = new Map();
      for (let i = 0; i < 10000; i++) m.set("k" + i, { ip: "198.18.0." + (i % 250), n: i });
      keep.push(m); if (keep.length > 6) keep.shift(); } return keep.length; };
    const settle = () => new Promise((r) => setTimeout(r, 30));
    (async () => {
      const mode = processHeapMode();
      mode.burst("test"); mode.close();
      let before = majors; work(); await settle(); const sized = majors - before;
      mode.burst("test"); before = majors; work(); await settle(); const fast = majors - before; mode.close();
      console.log(JSON.stringify({ fast, sized }));
    })();`;
  // A young generation kept small, so the work reaches the old generation, whose heuristics the flag steers
  // (the daemon's main heap has V8's default one; without the cap the young generation absorbs this work).
  const out = spawnSync(process.execPath, ["--max-semi-space-size=1", "-e", script], { encoding: "utf8" });
  assert.equal(out.status, 0, out.stderr);
  const { fast, sized } = JSON.parse(out.stdout) as { fast: number; sized: number };
  assert.ok(sized >= 3, `full GCs without a burst: ${sized}`);
  assert.ok(fast < sized, `fewer full GCs in a burst: ${fast} against ${sized}`);
});

test("heap mode: burstWithin says whether burst() was called that recently (managed or not)", () => {
  let now = 1_000;
  const mode = new HeapMode(
    () => undefined,
    false,
    () => now,
  );
  assert.equal(mode.burstWithin(1_500), false, "no burst yet");
  mode.burst("reload (file change)");
  now += 1_499;
  assert.equal(mode.burstWithin(1_500), true);
  now += 1;
  assert.equal(mode.burstWithin(1_500), false);
});
