// Failure detection that never flaps (issue 13), on the simulator: each scenario runs one simulated hour on a
// fixed seed and must end with zero false deaths, then a crash must still be detected within its bound.
// Scenarios: a member whose event loop stalls like a GC pause (and the bench's SIGSTOP 100 ms every second),
// members whose timers fire late, a 2-member cluster on a lossy jittery link, and 3 members with 10% loss and
// 5 ± 5 ms jitter on every link. Plaintext gossip (no keyring) only to keep the wall time down: encryption
// plays no part in detection and is covered by the other simulator tests.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LAN } from "../../lib/gossip/config";
import { Rng } from "../../lib/gossip/rng";
import { SimCluster } from "../../lib/gossip/sim-cluster";
import type { LinkProfile } from "../../lib/gossip/sim-network";

const HOUR_MS = 3_600_000;
const LOSSY_JITTERY: LinkProfile = { latencyMs: 5, jitterMs: 5, loss: 0.1 };

interface HourResult {
  cluster: SimCluster;
  deaths: string[];
  suspicions: number;
}

/** Builds an n-member cluster, lets it converge, applies `link`, runs `setup`, then one simulated hour. */
function runHour(
  n: number,
  seed: number,
  link: LinkProfile | undefined,
  setup: (c: SimCluster) => void = () => {},
): HourResult {
  const c = SimCluster.build(n, { seed, insecure: true }, 5);
  assert.ok(c.sched.runUntilTrue(() => c.converged(), 10_000, 10) !== undefined, "converged");
  if (link) c.net.defaults = link;
  const deaths: string[] = [];
  let suspicions = 0;
  c.on("dead", (o, m) => deaths.push(`${o} saw ${m.name} dead at ${c.sched.now().toFixed(1)} ms`));
  c.on("leave", (o, m) => deaths.push(`${o} saw ${m.name} leave at ${c.sched.now().toFixed(1)} ms`));
  c.on("suspect", () => suspicions++);
  setup(c);
  c.sched.advance(HOUR_MS);
  return { cluster: c, deaths, suspicions };
}

/** Crashes `victim` and returns ms until every other running member holds it dead. */
function crashDetection(c: SimCluster, victim: string): number {
  const t0 = c.sched.now();
  c.crash(victim);
  const done = c.sched.runUntilTrue(() => c.allSee(victim, "dead"), 10_000, 0.5);
  assert.ok(done !== undefined, `${victim}'s crash detected`);
  return done - t0;
}

function summary(name: string, r: HourResult, detectionMs: number): void {
  const stats = r.cluster.nodes.map((nd) => nd.ml.stats());
  const withheld = stats.reduce((s, x) => s + x.verdictsWithheld, 0);
  const refutes = stats.reduce((s, x) => s + x.refutes, 0);
  console.log(
    `# ${name}: 1 h, ${r.suspicions} suspect events, ${refutes} refutes, ${withheld} verdicts withheld, ` +
      `0 false deaths; crash detected in ${detectionMs.toFixed(1)} ms`,
  );
}

test("GC-like stalls: a member paused 100 ms every second plus random 5-60 ms pauses, 2 and 3 members, 1 h: nobody dies", () => {
  for (const n of [2, 3]) {
    const rng = new Rng(4100 + n);
    const r = runHour(n, 4100 + n, undefined, (c) => {
      const stalled = "node-1";
      // The bench's SIGSTOP/SIGCONT: 100 ms out of every second.
      const sigstop = (): void => {
        c.pause(stalled);
        c.sched.setTimer(100, () => {
          c.resume(stalled);
          c.sched.setTimer(900, sigstop);
        });
      };
      c.sched.setTimer(333, sigstop);
      // GC-like pauses at random moments in between (they may overlap the SIGSTOP: resume is idempotent).
      const gc = (): void => {
        c.sched.setTimer(200 + rng.next() * 1500, () => {
          if (!c.node(stalled).clock.isPaused()) {
            c.pause(stalled);
            c.sched.setTimer(5 + rng.next() * 55, () => c.resume(stalled));
          }
          gc();
        });
      };
      gc();
    });
    assert.deepEqual(r.deaths, [], `${n} members: no false deaths`);
    const paused = r.cluster.node("node-1").ml.stats();
    assert.ok(
      paused.stallsDetected > 1000,
      `the paused member noticed its stalls (${paused.stallsDetected})`,
    );
    // Let it run unpaused a moment (the pause chain keeps going: detect the crash of another member).
    const victim = n === 2 ? "node-0" : "node-2";
    const detection = crashDetection(r.cluster, victim);
    summary(`stalls N=${n}`, r, detection);
    // The paused member may itself be paused when the crash happens: add one pause to the bound.
    assert.ok(detection <= LAN.failureTimeoutMs + 150, `detection ${detection} ms`);
  }
});

test("late timers: every member's timers fire 0-30 ms late (1% of them 50-120 ms), 3 members, 1 h: nobody dies", () => {
  const r = runHour(3, 4200, undefined, (c) => {
    for (const node of c.nodes) {
      const rng = new Rng(node.name.length * 7 + node.addr.length);
      node.clock.lateness = () => (rng.next() < 0.01 ? 50 + rng.next() * 70 : rng.next() * rng.next() * 30);
    }
  });
  assert.deepEqual(r.deaths, []);
  const blind = r.cluster.nodes.reduce((s, nd) => s + nd.ml.stats().blindMs, 0);
  assert.ok(blind > 0, "late timers were counted as time the members could not listen");
  const detection = crashDetection(r.cluster, "node-1");
  summary("late timers N=3", r, detection);
  assert.ok(detection <= LAN.failureTimeoutMs + 150, `detection ${detection} ms`);
});

test("2 members, 10% loss and 5 ± 5 ms jitter both ways, 1 h: nobody dies, a crash is still seen in ≤ 250 ms", () => {
  const r = runHour(2, 4300, LOSSY_JITTERY);
  assert.deepEqual(r.deaths, []);
  assert.ok(r.suspicions > 0, "loss did make a member suspect the other (the case under test happened)");
  const dropped = r.cluster.net.stats.dropped / r.cluster.net.stats.sent;
  assert.ok(dropped > 0.09 && dropped < 0.11, `loss really applied (${dropped})`);
  const detection = crashDetection(r.cluster, "node-1");
  summary("2 members lossy", r, detection);
  assert.ok(detection <= 250, `detection ${detection} ms`);
});

test("3 members, 10% loss and 5 ± 5 ms jitter on every link, 1 h: nobody dies, a crash is still seen in ≤ 250 ms", () => {
  const r = runHour(3, 4400, LOSSY_JITTERY);
  assert.deepEqual(r.deaths, []);
  const detection = crashDetection(r.cluster, "node-2");
  summary("3 members lossy", r, detection);
  assert.ok(detection <= 250, `detection ${detection} ms`);
});
