// Failure detection on the simulator (fixed seeds): speed of crash detection, no false positives under
// loss, recovery from a stall, and partitions that heal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { detectionRun, percentile, SimCluster } from "../../lib/gossip/sim-cluster";

for (const n of [3, 5, 10]) {
  test(`detection N=${n}: crash known to all members, p50 ≤ 150 ms and p99 ≤ 250 ms over 200 runs`, () => {
    const times: number[] = [];
    for (let r = 0; r < 200; r++) {
      const t = detectionRun(n, 10_000 + n * 1000 + r);
      assert.ok(t !== undefined, `N=${n} run ${r}: converged and detected`);
      times.push(t);
    }
    times.sort((a, b) => a - b);
    const p50 = percentile(times, 0.5);
    const p99 = percentile(times, 0.99);
    console.log(
      `# detection N=${n}: p50=${p50.toFixed(1)} ms p99=${p99.toFixed(1)} ms max=${times.at(-1)?.toFixed(1)} ms`,
    );
    assert.ok(p50 <= 150, `p50 ${p50}`);
    assert.ok(p99 <= 250, `p99 ${p99}`);
  });
}

test("false positives: 10 simulated minutes at 5% loss on every link, N=10, zero dead live members", () => {
  const c = SimCluster.build(10, { seed: 77 }, 5);
  assert.ok(c.sched.runUntilTrue(() => c.converged(), 5000, 10) !== undefined);
  c.net.defaults = { latencyMs: 0.5, jitterMs: 0.3, loss: 0.05 };
  const deaths: string[] = [];
  let suspicions = 0;
  c.on("dead", (o, m) => deaths.push(`${o} saw ${m.name} dead at ${c.sched.now()}`));
  c.on("leave", (o, m) => deaths.push(`${o} saw ${m.name} leave`));
  c.on("suspect", () => suspicions++);
  c.sched.advance(10 * 60_000);
  assert.deepEqual(deaths, []);
  assert.ok(c.converged(), "everyone still sees everyone alive");
  const dropped = c.net.stats.dropped / c.net.stats.sent;
  assert.ok(dropped > 0.04 && dropped < 0.06, `loss really applied (${dropped})`);
  const refutes = c.nodes.reduce((s, nd) => s + nd.ml.stats().refutes, 0);
  console.log(`# 10 min @5% loss: ${suspicions} suspect events, ${refutes} refutes, 0 dead`);
});

test("a member stalled for 2 s is suspected, refutes, and ends alive everywhere; it accuses nobody", () => {
  const c = SimCluster.build(10, { seed: 91 }, 5);
  assert.ok(c.sched.runUntilTrue(() => c.converged(), 5000, 10) !== undefined);
  c.sched.advance(500);
  const suspectedStalled = new Set<string>();
  const wrongAccusations: string[] = [];
  c.on("suspect", (o, m) => {
    if (m.name === "node-4") suspectedStalled.add(o);
    else wrongAccusations.push(`${o} suspected ${m.name}`);
  });
  c.on("dead", (o, m) => {
    if (m.name !== "node-4") wrongAccusations.push(`${o} declared ${m.name} dead`);
  });
  const refutesBefore = c.node("node-4").ml.stats().refutes;
  c.pause("node-4");
  c.sched.advance(2000);
  c.resume("node-4");
  const healed = c.sched.runUntilTrue(() => c.converged(), 2000, 1);
  assert.ok(healed !== undefined, "stalled member alive again everywhere");
  c.sched.advance(5000);
  assert.ok(c.converged(), "no lasting dead mark");
  assert.ok(suspectedStalled.size >= 5, `suspected by ${suspectedStalled.size} members`);
  assert.ok(c.node("node-4").ml.stats().refutes > refutesBefore, "it refuted");
  assert.ok(c.node("node-4").ml.stats().stallsDetected >= 1, "it noticed its own stall (timer drift)");
  assert.deepEqual(wrongAccusations, [], "the stalled node must not accuse healthy peers on resume");
});

test("partition 2|3 at N=5: each side sees the other dead; after heal all 5 alive within 2 s", () => {
  const c = SimCluster.build(5, { seed: 123 }, 5);
  assert.ok(c.sched.runUntilTrue(() => c.converged(), 5000, 10) !== undefined);
  const a = ["node-0", "node-1"];
  const b = ["node-2", "node-3", "node-4"];
  c.net.partition(
    a.map((x) => c.node(x).addr),
    b.map((x) => c.node(x).addr),
  );
  c.sched.advance(30_000);
  for (const x of a)
    for (const y of b) {
      assert.equal(c.stateOf(x, y), "dead", `${x} sees ${y}`);
      assert.equal(c.stateOf(y, x), "dead", `${y} sees ${x}`);
    }
  for (const x of a) for (const y of a) if (x !== y) assert.equal(c.stateOf(x, y), "alive");
  for (const x of b) for (const y of b) if (x !== y) assert.equal(c.stateOf(x, y), "alive");
  c.net.healAll();
  const t0 = c.sched.now();
  const t = c.sched.runUntilTrue(() => c.converged(), 2000, 1);
  assert.ok(t !== undefined, "all 5 alive within 2 s of the heal");
  console.log(`# partition heal: all alive after ${(t - t0).toFixed(0)} ms`);
  c.sched.advance(10_000);
  assert.ok(c.converged());
});

test("asymmetric link loss (one direction blocked) does not kill anyone", () => {
  const c = SimCluster.build(5, { seed: 5 }, 5);
  assert.ok(c.sched.runUntilTrue(() => c.converged(), 5000, 10) !== undefined);
  let deaths = 0;
  c.on("dead", () => deaths++);
  c.net.block(c.node("node-1").addr, c.node("node-2").addr);
  c.sched.advance(60_000);
  assert.equal(deaths, 0);
  assert.ok(c.converged());
});
