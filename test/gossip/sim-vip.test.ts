// Whole nodes (memberlist + planner + metadata publisher) on the deterministic simulator: ownership across
// crashes, graceful stops, partitions, quorum and non-revertive mode, by seed, in virtual time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { VipSim } from "../../lib/plan/sim-node";
import { planConfig, ranked } from "../unit/plan-builders";

const IPS = ["198.51.100.30", "198.51.100.31", "198.51.100.32", "2001:db8::32"];
const active = planConfig(IPS);
const NAMES = ["node-0", "node-1", "node-2"];

function settled(sim: VipSim): boolean {
  return IPS.every((ip) => sim.holders(ip).length === 1);
}

function start(seed: number, opts: Partial<ConstructorParameters<typeof VipSim>[0]> = {}): VipSim {
  const sim = VipSim.build(3, { seed, active, ...opts });
  const at = sim.runUntil(() => settled(sim) && sim.gossip.converged(), 20_000);
  assert.notEqual(at, undefined, `seed ${seed}: the cluster settles`);
  return sim;
}

/** Runs `ms`, sampling every `stepMs`; returns the longest stretch during which `bad()` held. */
function longestWhile(sim: VipSim, ms: number, bad: () => boolean, stepMs = 5): number {
  let longest = 0;
  let since: number | undefined;
  const end = sim.now() + ms;
  while (sim.now() < end) {
    sim.advance(stepMs);
    if (bad()) {
      since ??= sim.now();
      longest = Math.max(longest, sim.now() - since);
    } else since = undefined;
  }
  return longest;
}

test("a settled cluster: each VIP held once, by the best-ranked node, and its frames were the last", () => {
  for (const seed of [1, 2, 3]) {
    const sim = start(seed);
    for (const ip of IPS) {
      assert.deepEqual(sim.holders(ip), [ranked(ip, NAMES)[0]], `seed ${seed} ${ip}`);
      assert.equal(sim.lastAnnouncer(ip), ranked(ip, NAMES)[0]);
    }
  }
});

test("crash: no VIP stays unowned longer than failure detection while an eligible node lives", () => {
  for (const seed of [4, 5, 6]) {
    const sim = start(seed);
    const victim = ranked(IPS[0] ?? "", NAMES)[0] ?? "";
    sim.crash(victim);
    const gap = longestWhile(sim, 15_000, () => IPS.some((ip) => sim.holders(ip).length === 0));
    // LAN profile: suspicion + dead in a few seconds; a VIP must never wait longer than that.
    assert.ok(gap > 0 && gap < 8_000, `seed ${seed}: longest unowned stretch ${gap} ms`);
    assert.ok(settled(sim), `seed ${seed}: every VIP held once after the crash`);
    for (const ip of IPS) assert.notEqual(sim.holders(ip)[0], victim);
  }
});

test("graceful stop: the next owner holds before the old one lets go (no unowned moment)", async () => {
  for (const seed of [7, 8]) {
    const sim = start(seed);
    const leaver = ranked(IPS[0] ?? "", NAMES)[0] ?? "";
    const [next] = ranked(IPS[0] ?? "", NAMES).filter((n) => n !== leaver);
    let gap = 0;
    let done = false;
    const stopped = sim.stop(leaver).then(() => (done = true));
    while (!done) {
      sim.advance(1);
      if (sim.holders(IPS[0] ?? "").length === 0) gap++;
      await Promise.resolve();
    }
    await stopped;
    assert.equal(gap, 0, `seed ${seed}: ${IPS[0]} unowned for ${gap} ms during a graceful stop`);
    assert.ok(sim.runUntil(() => settled(sim), 5_000) !== undefined);
    assert.deepEqual(sim.holders(IPS[0] ?? ""), [next]);
    assert.equal(sim.lastAnnouncer(IPS[0] ?? ""), next);
  }
});

test("partition heal: two owners during the split, one soon after it heals, and the winner speaks last", () => {
  for (const seed of [9, 10, 11, 12]) {
    const sim = start(seed);
    const ip = IPS[0] ?? "";
    const owner = sim.holders(ip)[0] ?? "";
    const others = NAMES.filter((n) => n !== owner);
    sim.partition([owner], others);
    assert.ok(
      sim.runUntil(() => sim.holders(ip).length === 2, 15_000) !== undefined,
      `seed ${seed}: without quorum both sides take it`,
    );
    sim.heal();
    const healedAt = sim.now();
    const oneAt = sim.runUntil(() => IPS.every((x) => sim.holders(x).length === 1), 20_000);
    assert.ok(oneAt !== undefined, `seed ${seed}: one owner again`);
    assert.ok(
      oneAt - healedAt < 10_000,
      `seed ${seed}: two owners for ${oneAt - healedAt} ms after the heal`,
    );
    // And it stays so; the holder's frames are the last on the wire for each IP.
    const doubled = longestWhile(sim, 5_000, () => IPS.some((x) => sim.holders(x).length > 1));
    assert.equal(doubled, 0);
    for (const x of IPS) assert.equal(sim.lastAnnouncer(x), sim.holders(x)[0], `seed ${seed} ${x}`);
  }
});

test("quorum (majority of 3): the cut-off owner lets go, the majority takes over; never two holders", () => {
  for (const seed of [13, 14, 15]) {
    const sim = start(seed, { quorum: { mode: "majority", expect: 3 } });
    const ip = IPS[0] ?? "";
    const owner = sim.holders(ip)[0] ?? "";
    const others = NAMES.filter((n) => n !== owner);
    sim.partition([owner], others);
    const released = sim.runUntil(() => !sim.node(owner).held.has(ip), 15_000);
    assert.ok(released !== undefined, `seed ${seed}: the minority side releases`);
    assert.equal(sim.node(owner).held.size, 0, "it holds nothing at all");
    assert.ok(sim.runUntil(() => sim.holders(ip).length === 1, 15_000) !== undefined);
    assert.ok(others.includes(sim.holders(ip)[0] ?? ""), "the majority side holds it");
    const quorumEvents = sim.node(owner).lastPlan?.quorum.ok;
    assert.equal(quorumEvents, false);
    sim.heal();
    assert.ok(
      sim.runUntil(() => settled(sim) && sim.node(owner).lastPlan?.quorum.ok === true, 20_000) !== undefined,
    );
  }
});

test("non-revertive: a restarted better-ranked node does not take its VIPs back; failback does", () => {
  for (const failback of [false, true]) {
    const sim = start(16, { failback });
    const ip = IPS[0] ?? "";
    const best = ranked(ip, NAMES)[0] ?? "";
    sim.crash(best);
    assert.ok(sim.runUntil(() => sim.holders(ip).length === 1, 15_000) !== undefined);
    const standIn = sim.holders(ip)[0];
    sim.addNode(best);
    sim.advance(15_000);
    assert.deepEqual(sim.holders(ip), [failback ? best : standIn], `failback=${failback}`);
    assert.ok(settled(sim));
  }
});

test("eligibility: a node whose link goes down hands its VIPs over, and gets them back with failback", () => {
  const sim = start(17);
  const ip = IPS[0] ?? "";
  const owner = sim.holders(ip)[0] ?? "";
  const node = sim.node(owner);
  node.linkUp = false;
  node.stepSoon();
  assert.ok(
    sim.runUntil(() => sim.holders(ip).length === 1 && sim.holders(ip)[0] !== owner, 5_000) !== undefined,
  );
  node.linkUp = true;
  node.stepSoon();
  assert.ok(sim.runUntil(() => sim.holders(ip)[0] === owner && settled(sim), 5_000) !== undefined);
});

test("property: after random crashes and partitions heal, every VIP has exactly one holder", () => {
  for (let seed = 100; seed < 110; seed++) {
    const sim = start(seed);
    const rand = (n: number) => (seed * 7919 + n * 104729) % 997;
    const cut = NAMES[rand(1) % 3] ?? "";
    sim.partition(
      [cut],
      NAMES.filter((n) => n !== cut),
    );
    sim.advance(2_000 + rand(2) * 10);
    if (rand(3) % 2 === 0) {
      const victim = NAMES.filter((n) => n !== cut)[rand(4) % 2] ?? "";
      sim.crash(victim);
    }
    sim.advance(3_000 + rand(5) * 5);
    sim.heal();
    const at = sim.runUntil(() => settled(sim), 20_000);
    assert.ok(
      at !== undefined,
      `seed ${seed}: ${IPS.map((ip) => `${ip}=${sim.holders(ip).join("+")}`).join(" ")}`,
    );
  }
});

test("failback: the returning node takes its VIPs back make-before-break (clients always reach a holder)", async () => {
  for (const seed of [18, 19, 20]) {
    const sim = start(seed);
    const best = ranked(IPS[0] ?? "", NAMES)[0] ?? "";
    const mine = IPS.filter((ip) => ranked(ip, NAMES)[0] === best);
    let stopped = false;
    const stopping = sim.stop(best).then(() => (stopped = true));
    while (!stopped) {
      sim.advance(1);
      await Promise.resolve();
    }
    await stopping;
    sim.gossip.crash(best); // the stopped process is gone: its name may start again
    assert.ok(sim.runUntil(() => settled(sim) && mine.every((ip) => sim.holders(ip)[0] !== best), 5_000));
    sim.addNode(best);
    // Clients follow the last announcement on the wire: its sender must hold the IP at every moment.
    const broken: string[] = [];
    const end = sim.now() + 15_000;
    while (sim.now() < end) {
      sim.advance(1);
      for (const ip of IPS) {
        const last = sim.lastAnnouncer(ip) ?? "";
        if (!sim.holders(ip).includes(last)) broken.push(`${sim.now()} ${ip}: ${last} no longer holds it`);
      }
    }
    assert.deepEqual(broken.slice(0, 5), [], `seed ${seed}`);
    for (const ip of mine) {
      assert.deepEqual(sim.holders(ip), [best], `seed ${seed}: ${ip} is back on ${best}`);
      assert.equal(sim.lastAnnouncer(ip), best);
    }
  }
});
