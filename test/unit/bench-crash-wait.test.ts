// The scale bench's crash wait (bench/scale-common.ts waitForAnnouncements): past its base cap it waits on
// only while announcements still come, so a slow kernel's takeover is timed to its end and a stalled system
// costs the bench no more than before.
import { test } from "node:test";
import assert from "node:assert/strict";
import { waitForAnnouncements } from "../../bench/scale-common";

/** Announces one more target every `everyMs` from the first update on (never, with `everyMs` Infinity). */
function announcer(targets: readonly string[], everyMs: number) {
  let started: number | undefined;
  const seen = new Set<string>();
  return {
    update(): void {
      started ??= Date.now();
      const due = Math.min(targets.length, Math.floor((Date.now() - started) / everyMs));
      for (const t of targets.slice(0, due)) seen.add(t);
    },
    missing(of: Iterable<string>): number {
      let n = 0;
      for (const t of of) if (!seen.has(t)) n++;
      return n;
    },
  };
}

const TARGETS = ["a", "b", "c", "d", "e", "f", "g", "h"];
const CAPS = { baseMs: 200, maxMs: 2_000, quietMs: 250 };

test("a takeover still announcing at the base cap is waited for until every target is announced", async () => {
  const started = Date.now();
  // 8 targets, one every 60 ms: the last ~480 ms in, past the 200 ms base cap but well inside the maximum.
  const complete = await waitForAnnouncements(announcer(TARGETS, 60), new Set(TARGETS), CAPS);
  assert.equal(complete, true);
  assert.ok(Date.now() - started >= 400, "it waited past the base cap");
});

test("a system that announces nothing is cut at the base cap, not the maximum", async () => {
  const started = Date.now();
  const complete = await waitForAnnouncements(announcer(TARGETS, Infinity), new Set(TARGETS), CAPS);
  const took = Date.now() - started;
  assert.equal(complete, false);
  assert.ok(took >= CAPS.baseMs, `waited ${took} ms`);
  assert.ok(took < CAPS.baseMs + CAPS.quietMs + 500, `waited ${took} ms: longer than the base cap needs`);
});

test("announcements that never finish stop at the maximum", async () => {
  const started = Date.now();
  // One target every 100 ms of 8: never done inside a 500 ms maximum, yet never quiet for 250 ms.
  const caps = { ...CAPS, maxMs: 500 };
  const complete = await waitForAnnouncements(announcer(TARGETS, 100), new Set(TARGETS), caps);
  const took = Date.now() - started;
  assert.equal(complete, false);
  assert.ok(took >= caps.maxMs && took < caps.maxMs + 500, `waited ${took} ms`);
});
