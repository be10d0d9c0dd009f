// A member whose link flaps (cut until the others declare it dead, then restored, again and again) must not
// slow the survivors' detector: its stale accusations, raised while it was the one cut off, are refuted
// without counting against the survivors' local health (the bench's "link down" scenario, on the simulator).
// Counting them, as Lifeguard does for every refute, ratcheted detection from 110 ms to ~400 ms here and to
// ~800 ms in the lab.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SimCluster } from "../../lib/gossip/sim-cluster";

test("link flap ×20 at N=3: detection stays fast and the survivors' local health stays 0", () => {
  const c = SimCluster.build(3, { seed: 4242 }, 5);
  assert.ok(c.sched.runUntilTrue(() => c.converged(), 5000, 10) !== undefined);
  const flapping = c.node("node-0");
  const survivors = ["node-1", "node-2"];
  const others = survivors.map((n) => c.node(n).addr);
  const detections: number[] = [];
  for (let round = 0; round < 20; round++) {
    c.sched.advance(200);
    const t0 = c.sched.now();
    c.net.partition([flapping.addr], others);
    const detected = c.sched.runUntilTrue(
      () => survivors.every((s) => c.stateOf(s, "node-0") === "dead"),
      5000,
      1,
    );
    assert.ok(detected !== undefined, `round ${round}: survivors declared node-0 dead`);
    detections.push(detected - t0);
    c.net.healAll();
    assert.ok(c.sched.runUntilTrue(() => c.converged(), 5000, 5) !== undefined, `round ${round}: rejoined`);
    c.sched.advance(300);
  }
  const scores = survivors.map((s) => c.node(s).ml.healthScore);
  console.log(
    `# flap detections (ms): ${detections.map((d) => d.toFixed(0)).join(" ")}; survivor scores ${scores}`,
  );
  assert.ok(Math.max(...detections) <= 250, `every detection within 250 ms: ${detections.join(", ")}`);
  assert.deepEqual(scores, [0, 0], "stale accusations from the flapping member did not raise local health");
  const stale = survivors.reduce((s, n) => s + c.node(n).ml.stats().staleRefutes, 0);
  assert.ok(stale > 0, "the survivors did have to refute stale accusations (the case under test happened)");
});
