// The learned verdict timeout (gap-history.ts): table tests of the pure arithmetic and the bucketed memory.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  GAP_CAP,
  GAP_MARGIN,
  GAP_MEMORY_MS,
  GAP_WARMUP_MS,
  GapHistory,
  learnedVerdictTimeout,
} from "../../lib/gossip/gap-history";

test("learnedVerdictTimeout: the failure timeout for ordinary gaps, margin × the habitual gap above, capped", () => {
  const cases: Array<[failureTimeoutMs: number, longestGapMs: number, expected: number]> = [
    [150, 0, 150], // nothing heard yet
    [150, 25, 150], // a member on a quiet host: its 25 ms heartbeats
    [150, 100, 150], // 4 heartbeats lost in a row at 10% loss: still the plain verdict (1.5 × 100 = 150)
    [150, 125, 125 * GAP_MARGIN], // a 100 ms SIGSTOP right after a heartbeat
    [150, 160, 240], // a slow wake-up after the pause
    [150, 400, GAP_CAP * 150], // never more than the cap, whatever it showed
    [3000, 2500, 3750], // wan: 1.5 × a 2.5 s gap
    [3000, 5000, GAP_CAP * 3000], // wan: capped at 2 × 3 s
  ];
  for (const [timeout, gap, expected] of cases)
    assert.equal(learnedVerdictTimeout(timeout, gap), expected, `${timeout} ms, gap ${gap} ms`);
});

test("GapHistory: the second longest gap of the last minute (a habit, not one stall), then forgets it", () => {
  const h = new GapHistory(-GAP_WARMUP_MS);
  assert.equal(h.habitual(0), 0);
  h.record(1_000, 25);
  h.record(2_000, 130);
  assert.equal(h.habitual(2_000), 25, "one long gap alone is not a habit");
  h.record(15_000, 120);
  h.record(16_000, 40);
  assert.equal(h.habitual(16_000), 120);
  // Bucketed by 10 s: the 130 ms gap (bucket 0..10 s) is kept until its bucket is a minute old.
  assert.equal(h.habitual(GAP_MEMORY_MS - 1), 120);
  assert.equal(h.habitual(GAP_MEMORY_MS + 1), 40);
  assert.equal(h.habitual(GAP_MEMORY_MS + 20_000), 0);
  // Non-gaps are ignored (never heard before: Infinity; clock oddities: ≤ 0).
  h.record(100_000, Infinity);
  h.record(100_000, -5);
  h.record(100_001, 50);
  assert.equal(h.habitual(100_001), 0);
});

test("GapHistory learns nothing in a member's first seconds (a daemon starting up)", () => {
  const h = new GapHistory(1_000);
  h.record(2_000, 400);
  h.record(3_000, 350);
  assert.equal(h.habitual(3_000), 0);
  h.record(1_000 + GAP_WARMUP_MS, 130);
  h.record(1_000 + GAP_WARMUP_MS + 1_000, 125);
  assert.equal(h.habitual(1_000 + GAP_WARMUP_MS + 1_000), 125);
});

test("GapHistory stays small however many packets it sees", () => {
  const h = new GapHistory(-GAP_WARMUP_MS);
  for (let t = 0; t < 10 * GAP_MEMORY_MS; t += 25) h.record(t, 20 + (t % 7));
  assert.equal(h.habitual(10 * GAP_MEMORY_MS), 26);
  assert.ok((h as unknown as { buckets: unknown[] }).buckets.length <= 7);
});
