// The bench's SIGSTOP condition as the lab really runs it (issue 13): the owner's daemon is stopped 100 ms
// every second, and after SIGCONT it runs again only when the host's scheduler gets to it. On the loaded lab
// host (load 20-30) that wake-up took up to tens of ms more, so the silence its watchers saw was
// 100 ms + up to one 25 ms heartbeat interval + the wake-up: past the fixed 150 ms verdict about once a
// minute (sim-hour.test.ts models an instant wake-up, where the longest gap is 125 ms and nobody dies).
// Here the wake-up delay is drawn per pause: usually a few ms, 1 pause in 8 waits 10-35 ms, 1 in 40 waits
// 35-60 ms. With the fixed verdict the 3-member cluster declares the paused member dead dozens of times an
// hour; with the verdict waiting for more than the member's recent gaps (gap-history.ts) nobody dies, and a
// crash is still detected within its bound.
import { test } from "node:test";
import assert from "node:assert/strict";
import { GAP_CAP } from "../../lib/gossip/gap-history";
import { LAN } from "../../lib/gossip/config";
import { Rng } from "../../lib/gossip/rng";
import { SimCluster } from "../../lib/gossip/sim-cluster";

const HOUR_MS = 3_600_000;
const PAUSE_MS = 100;
const PERIOD_MS = 1_000;

/** How long after SIGCONT the stopped process runs again on a loaded host (see the file comment). */
function wakeUpDelay(rng: Rng): number {
  const r = rng.next();
  if (r < 1 / 40) return 35 + rng.next() * 25;
  if (r < 1 / 8) return 10 + rng.next() * 25;
  return rng.next() * 5;
}

interface PauseRun {
  cluster: SimCluster;
  deaths: string[];
  suspicions: number;
  pauses: number;
  longestPauseMs: number;
}

function pausedHour(n: number, seed: number, paused: string): PauseRun {
  const c = SimCluster.build(n, { seed, insecure: true }, 5);
  assert.ok(c.sched.runUntilTrue(() => c.converged(), 10_000, 10) !== undefined, "converged");
  const run: PauseRun = { cluster: c, deaths: [], suspicions: 0, pauses: 0, longestPauseMs: 0 };
  c.on("dead", (o, m) => run.deaths.push(`${o} saw ${m.name} dead at ${c.sched.now().toFixed(1)} ms`));
  c.on("leave", (o, m) => run.deaths.push(`${o} saw ${m.name} leave at ${c.sched.now().toFixed(1)} ms`));
  c.on("suspect", () => run.suspicions++);
  const rng = new Rng(seed * 31 + 7);
  const sigstop = (): void => {
    if (c.node(paused).crashed) return;
    const stoppedFor = PAUSE_MS + wakeUpDelay(rng);
    run.pauses++;
    run.longestPauseMs = Math.max(run.longestPauseMs, stoppedFor);
    c.pause(paused);
    c.sched.setTimer(stoppedFor, () => {
      c.resume(paused);
      c.sched.setTimer(PERIOD_MS - stoppedFor, sigstop);
    });
  };
  c.sched.setTimer(rng.next() * PERIOD_MS, sigstop);
  c.sched.advance(HOUR_MS);
  return run;
}

/** Crashes `victim` (between two pauses when it is the paused one) and returns ms until all see it dead. */
function crashDetection(c: SimCluster, victim: string): number {
  c.sched.runUntilTrue(() => !c.node(victim).clock.isPaused(), 2_000, 1);
  const t0 = c.sched.now();
  c.crash(victim);
  const done = c.sched.runUntilTrue(() => c.allSee(victim, "dead"), 10_000, 0.5);
  assert.ok(done !== undefined, `${victim}'s crash detected`);
  return done - t0;
}

for (const n of [2, 3]) {
  test(`owner stopped 100 ms every second with loaded-host wake-ups, ${n} members, 1 h: nobody dies, crashes still detected`, () => {
    const run = pausedHour(n, 5300 + n, "node-1");
    const over = run.longestPauseMs + LAN.heartbeatIntervalMs;
    console.log(
      `# N=${n}: ${run.pauses} pauses (longest ${run.longestPauseMs.toFixed(1)} ms, so gaps up to ~${over.toFixed(0)} ms), ` +
        `${run.suspicions} suspect events, ${run.deaths.length} false deaths`,
    );
    assert.ok(run.pauses > 3500, `the pauses happened (${run.pauses})`);
    assert.ok(run.longestPauseMs > LAN.failureTimeoutMs - LAN.heartbeatIntervalMs, "some wake-ups were slow");
    assert.deepEqual(run.deaths, [], `${n} members: no false deaths`);
    // What `vipd status` shows: the paused member's watcher waits longer than the configured timeout (it has
    // learned the member's long gaps), within the cap; a member that never paused keeps the plain timeout.
    const learned = run.cluster.node("node-0").ml.stats().verdictTimeoutsMs;
    const forPaused = learned["node-1"] ?? 0;
    assert.ok(
      forPaused > LAN.failureTimeoutMs && forPaused <= GAP_CAP * LAN.failureTimeoutMs,
      `learned timeout for the paused member: ${JSON.stringify(learned)}`,
    );
    if (n === 3)
      assert.equal(
        run.cluster.node("node-1").ml.stats().verdictTimeoutsMs["node-2"],
        LAN.failureTimeoutMs,
        "a steady member keeps the configured timeout",
      );
    // A member that never paused keeps the plain verdict: its crash is seen as fast as on a quiet cluster.
    const steady = crashDetection(run.cluster, n === 2 ? "node-0" : "node-2");
    // The paused member's watchers wait up to GAP_CAP failure timeouts; its crash is still seen within that
    // plus one pause (the other member may be stopped when it happens).
    const pausedCrash = n === 2 ? undefined : crashDetection(run.cluster, "node-1");
    console.log(
      `# N=${n}: crash of a steady member seen in ${steady.toFixed(1)} ms` +
        (pausedCrash === undefined ? "" : `, of the paused member in ${pausedCrash.toFixed(1)} ms`),
    );
    assert.ok(steady <= LAN.failureTimeoutMs + PAUSE_MS + 60, `steady member's crash: ${steady} ms`);
    if (pausedCrash !== undefined)
      assert.ok(
        pausedCrash <= GAP_CAP * LAN.failureTimeoutMs + 30,
        `paused member's crash: ${pausedCrash} ms`,
      );
  });
}
