// The learned verdict timeout (gap-history.ts): table tests of the pure arithmetic and the bucketed memory.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  GAP_CAP,
  GAP_MARGIN,
  GAP_MEMORY_MS,
  GapHistory,
  learnedVerdictTimeout,
} from "../../lib/gossip/gap-history";

test("learnedVerdictTimeout: the failure timeout for ordinary gaps, margin × the longest gap above, capped", () => {
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

test("GapHistory keeps the longest gap of the last minute, then forgets it", () => {
  const h = new GapHistory();
  assert.equal(h.longest(0), 0);
  h.record(1_000, 25);
  h.record(2_000, 130);
  h.record(15_000, 40);
  assert.equal(h.longest(15_000), 130);
  // Bucketed by 10 s: the 130 ms gap (bucket 0..10 s) is kept until its bucket is a minute old.
  assert.equal(h.longest(GAP_MEMORY_MS - 1), 130);
  assert.equal(h.longest(GAP_MEMORY_MS + 1), 40);
  assert.equal(h.longest(GAP_MEMORY_MS + 20_000), 0);
  // Non-gaps are ignored (never heard before: Infinity; clock oddities: ≤ 0).
  h.record(100_000, Infinity);
  h.record(100_000, -5);
  assert.equal(h.longest(100_000), 0);
});

test("GapHistory stays small however many packets it sees", () => {
  const h = new GapHistory();
  for (let t = 0; t < 10 * GAP_MEMORY_MS; t += 25) h.record(t, 20 + (t % 7));
  assert.equal(h.longest(10 * GAP_MEMORY_MS), 26);
  assert.ok((h as unknown as { buckets: unknown[] }).buckets.length <= 7);
});
