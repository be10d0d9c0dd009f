// The main thread's pulse: its jobs share one timer on a grid, each on a whole number of pulses.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Pulse } from "../../lib/daemon/pulse";

test("jobs run on multiples of the pulse, rounded down, and on the wall-clock grid", async () => {
  const period = 20;
  const pulse = new Pulse(period);
  const every: number[] = [];
  // Which beat each run came in (the every-pulse job runs first in a beat: it was added first).
  const fifth: number[] = [];
  const rounded: number[] = [];
  const at = (): number => performance.timeOrigin + performance.now();
  pulse.every(period, () => every.push(at()));
  pulse.every(5 * period, () => fifth.push(every.length));
  // 70 ms asked: runs every 3 pulses (60 ms), never later than asked.
  pulse.every(70, () => rounded.push(every.length));
  pulse.start();
  await new Promise((resolve) => setTimeout(resolve, 20 * period + period / 2));
  pulse.stop();
  const pulses = every.length;
  await new Promise((resolve) => setTimeout(resolve, 3 * period));
  assert.equal(every.length, pulses, "nothing runs after stop()");
  // Generous: a loaded host delays timers, never adds pulses.
  assert.ok(pulses >= 8 && pulses <= 21, `pulses: ${pulses}`);
  // One wake-up for the jobs due together: the fifth job ran in beats 5, 10, ...
  assert.deepEqual(
    fifth,
    Array.from({ length: Math.floor(pulses / 5) }, (_, i) => 5 * (i + 1)),
  );
  assert.deepEqual(
    rounded,
    Array.from({ length: Math.floor(pulses / 3) }, (_, i) => 3 * (i + 1)),
  );
  // On the grid: each beat comes near a multiple of the period, mostly just after it, and sometimes up to
  // ~1 ms before it (Node's timers run on libuv's millisecond loop clock, not the wall clock the grid is on;
  // untilGridAt then aims at the next grid point, not the one a hair away). Seen in a CI run: 11 of 20
  // beats 0.5-1 ms early.
  const offset = every.map((t) => t % period);
  const onGrid = offset.filter((ms) => Math.min(ms, period - ms) < period / 4).length;
  assert.ok(onGrid >= pulses / 2, `beats on the grid: ${onGrid} of ${pulses} (${offset.map(Math.round)})`);
});
