// Membership on the simulator (fixed seeds): convergence, metadata dissemination, graceful leave, rejoin.
import { test } from "node:test";
import assert from "node:assert/strict";
import { disseminationRun, SimCluster } from "../../lib/gossip/sim-cluster";
import type { MemberMetadata } from "../../lib/gossip/metadata";
import { LAN, WAN } from "../../lib/gossip/config";

for (const n of [3, 10, 50, 250]) {
  test(`convergence N=${n}: everyone sees everyone alive, and it stays so`, () => {
    // N=250 runs in plaintext mode to keep the suite fast; encryption is exercised by the smaller sizes.
    const c = SimCluster.build(n, { seed: 400 + n, insecure: n > 50 }, n > 50 ? 2 : 5);
    const start = c.sched.now();
    const t = c.sched.runUntilTrue(() => c.converged(), 10_000, 10);
    assert.ok(t !== undefined, `N=${n} converged`);
    console.log(`# convergence N=${n}: ${(t - start).toFixed(0)} ms after the last join`);
    c.sched.advance(n > 50 ? 1000 : 5000);
    assert.ok(c.converged());
    const dead = c.nodes.reduce((s, nd) => s + nd.ml.stats().deadDeclared, 0);
    assert.equal(dead, 0);
  });
}

function bigMetadata(tag: string, vips: number): MemberMetadata {
  return {
    labels: { node: tag, zone: "z1" },
    manifestDigest: `sha256:${tag}`,
    eligibility: {
      eligible: Array.from({ length: vips }, (_, i) => `198.51.${100 + ((i >> 8) % 4)}.${i & 255}`),
      ineligible: [
        { vip: "203.0.113.7", reason: `${tag}: no interface with a subnet containing 203.0.113.7` },
      ],
    },
  };
}

for (const vips of [3, 5000]) {
  test(`metadata with ${vips} eligible VIPs reaches all 50 members in < 1 s`, () => {
    const c = SimCluster.build(50, { seed: 900 + vips }, 5);
    assert.ok(c.sched.runUntilTrue(() => c.converged(), 10_000, 10) !== undefined);
    c.sched.advance(500);
    const meta = bigMetadata(`v${vips}`, vips);
    const owner = c.node("node-7");
    const events = new Set<string>();
    c.on("metadata", (o, m) => {
      if (m.name === "node-7" && m.metadata?.manifestDigest === meta.manifestDigest) events.add(o);
    });
    const t0 = c.sched.now();
    owner.ml.setMetadata(meta);
    const digest = owner.ml.member("node-7")?.metadataDigest;
    const t = c.sched.runUntilTrue(
      () =>
        c.nodes.every((o) => {
          const m = o.ml.member("node-7");
          return m?.metadataDigest === digest && m?.metadata?.manifestDigest === meta.manifestDigest;
        }),
      1000,
      1,
    );
    assert.ok(t !== undefined, "all members hold the new record within 1 s");
    console.log(`# metadata (${vips} VIPs) at N=50: everywhere after ${(t - t0).toFixed(0)} ms`);
    assert.equal(events.size, 49, "every other member emitted a metadata event");
    const seen = c.node("node-33").ml.member("node-7")?.metadata;
    assert.deepEqual(seen, meta);
  });
}

test("graceful leave: peers mark it left at once, nobody marks it dead", () => {
  const c = SimCluster.build(10, { seed: 31 }, 5);
  assert.ok(c.sched.runUntilTrue(() => c.converged(), 5000, 10) !== undefined);
  let deaths = 0;
  c.on("dead", () => deaths++);
  const leaver = c.node("node-5");
  const t0 = c.sched.now();
  void leaver.ml.leave();
  const t = c.sched.runUntilTrue(() => c.allSee("node-5", "left"), 1000, 0.5);
  assert.ok(t !== undefined);
  assert.ok(t - t0 < 20, `leave known everywhere after ${t - t0} ms`);
  c.sched.advance(leaver.ml.config.leavePropagateMs);
  c.crash("node-5");
  c.sched.advance(10_000);
  assert.equal(deaths, 0);
  assert.ok(c.allSee("node-5", "left"));
});

test("a crashed member that restarts (new epoch, incarnation 1) rejoins and is alive again", () => {
  const c = SimCluster.build(5, { seed: 47 }, 5);
  assert.ok(c.sched.runUntilTrue(() => c.converged(), 5000, 10) !== undefined);
  c.crash("node-3");
  assert.ok(c.sched.runUntilTrue(() => c.allSee("node-3", "dead"), 2000, 1) !== undefined);
  c.sched.advance(5000);
  // Same name, new process: incarnation restarts at 1 below the dead record's, so it must out-bid it.
  const reborn = c.addNode("node-3");
  reborn.ml.join([c.node("node-0").addr]);
  assert.ok(c.sched.runUntilTrue(() => c.converged(), 2000, 1) !== undefined);
  assert.ok(reborn.ml.localIncarnation > 1, "it refuted its old death");
});

test("join retries with backoff while alone: a node whose seed is down joins once it comes up", () => {
  const c = new SimCluster({ seed: 8 });
  const a = c.addNode("a");
  const b = c.addNode("b");
  c.net.setDown(a.addr, true);
  b.ml.join([a.addr]);
  a.ml.join([b.addr]);
  c.sched.advance(3000);
  assert.ok(b.ml.isAlone());
  c.net.setDown(a.addr, false);
  assert.ok(
    c.sched.runUntilTrue(() => c.converged(), 15_000, 10) !== undefined,
    "joined after the seed came up",
  );
});

test("wan profile: relaxed timers still converge, detect a crash and tolerate 5% loss", () => {
  const c = SimCluster.build(5, { seed: 3, config: WAN, link: { latencyMs: 30, jitterMs: 10, loss: 0 } }, 50);
  assert.ok(c.sched.runUntilTrue(() => c.converged(), 30_000, 50) !== undefined);
  c.net.defaults = { latencyMs: 30, jitterMs: 10, loss: 0.05 };
  let deaths = 0;
  c.on("dead", () => deaths++);
  c.sched.advance(5 * 60_000);
  assert.equal(deaths, 0);
  c.sched.advance(10_000);
  const t0 = c.sched.now();
  c.crash("node-2");
  const t = c.sched.runUntilTrue(() => c.allSee("node-2", "dead"), 120_000, 50);
  assert.ok(t !== undefined);
  console.log(`# wan: crash known everywhere after ${(t - t0).toFixed(0)} ms`);
  assert.ok(t - t0 > LAN.heartbeatTimeoutMs * 10, "wan is deliberately slower than lan");
});

test("dissemination N=10: a metadata change and a new member reach every member within 50 ms", () => {
  for (const kind of ["metadata", "join"] as const) {
    for (let seed = 1; seed <= 5; seed++) {
      const t = disseminationRun(10, 900 + seed, kind);
      assert.ok(t !== undefined && t <= 50, `${kind} seed ${seed}: ${t} ms`);
    }
  }
});
