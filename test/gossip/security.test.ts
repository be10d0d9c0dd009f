// Security on the simulator: wrong key / other cluster never joins, key rotation loses nobody, plaintext
// needs an explicit opt-in, and a fuzz run of 1M+ hostile packets never throws out of the receive path.
import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeMessage, encodePacket } from "../../lib/gossip/codec";
import { generateKey, Keyring, NO_KEY_MESSAGE } from "../../lib/gossip/keyring";
import { Memberlist } from "../../lib/gossip/memberlist";
import { Rng } from "../../lib/gossip/rng";
import { SimCluster, testKey, testKeyring } from "../../lib/gossip/sim-cluster";
import { totalRejected } from "../../lib/gossip/stats";
import { NodeClock, VirtualScheduler } from "../../lib/gossip/virtual-clock";

test("no key and no insecure flag: refuses, saying how to create a key", () => {
  const sched = new VirtualScheduler();
  assert.throws(
    () =>
      new Memberlist({
        name: "a",
        advertiseAddr: "a:1",
        transport: { localAddress: "a:1", send() {}, onPacket() {}, close: async () => {} },
        clock: new NodeClock(sched),
      }),
    (e: Error) => e.message === NO_KEY_MESSAGE && /vipd keygen > \/etc\/vipd\/gossip\.key/.test(e.message),
  );
});

for (const intruder of ["wrong key", "other cluster label", "plaintext"] as const) {
  test(`a member with ${intruder} never joins, and its packets are counted as rejected`, () => {
    const c = SimCluster.build(3, { seed: 61 }, 5);
    assert.ok(c.sched.runUntilTrue(() => c.converged(), 5000, 10) !== undefined);
    const bad = c.addNode(
      "intruder",
      intruder === "wrong key"
        ? { keyring: testKeyring(61, "other") }
        : intruder === "other cluster label"
          ? { clusterLabel: "other-cluster" }
          : { insecure: true },
    );
    bad.ml.join([c.node("node-0").addr]);
    c.sched.advance(20_000);
    for (const n of ["node-0", "node-1", "node-2"]) {
      assert.equal(c.node(n).ml.member("intruder"), undefined, `${n} never learned of the intruder`);
      assert.equal(c.node(n).ml.members().length, 3);
    }
    assert.equal(bad.ml.members().length, 1, "the intruder learned nothing");
    assert.ok(bad.ml.isAlone());
    const reason = intruder === "plaintext" ? "plaintext" : "decrypt";
    assert.ok(
      c.node("node-0").ml.stats().rejected[reason] >= 3,
      `seed counted ${reason} rejects (join retries)`,
    );
  });
}

test("key rotation in 3 steps (add everywhere, use everywhere, remove old) loses no member", () => {
  const old = testKey(71, "old");
  const next = testKey(71, "new");
  const c = new SimCluster({ seed: 71 });
  const names = ["a", "b", "c", "d", "e"];
  // The daemon keeps the Keyring it handed to Memberlist and rotates it in place (add/use/remove).
  const rings = new Map(names.map((n) => [n, Keyring.fromBase64(old)]));
  for (const n of names) c.addNode(n, { keyring: rings.get(n) as Keyring });
  for (const n of names.slice(1)) c.node(n).ml.join([c.node("a").addr]);
  assert.ok(c.sched.runUntilTrue(() => c.converged(), 5000, 10) !== undefined);
  let bad = 0;
  c.on("dead", () => bad++);
  c.on("suspect", () => bad++);
  const ring = (n: string) => rings.get(n) as Keyring;
  const step = (fn: (k: Keyring) => void) => {
    for (const n of names) {
      fn(ring(n));
      c.sched.advance(700); // nodes change one by one, traffic flowing in between
    }
  };
  step((k) => k.addKey(next));
  step((k) => k.useKey(next));
  step((k) => k.removeKey(old));
  c.sched.advance(10_000);
  assert.equal(bad, 0, "no suspicion or death during rotation");
  assert.ok(c.converged());
  for (const n of names) assert.deepEqual(ring(n).list(), [next]);
  const rejects = names.reduce((s, n) => s + totalRejected(c.node(n).ml.stats()), 0);
  assert.equal(rejects, 0, "no packet was undecryptable at any point");
});

test("fuzz: 1.2M random and mutated packets never throw and are all counted as rejected", () => {
  const rng = new Rng(2024);
  const rand = (n: number) => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = rng.int(256);
    return b;
  };
  const valid = [
    encodeMessage({ type: "ping", seq: 1, target: "victim" }),
    encodeMessage({ type: "alive", name: "x", addr: "x:1", incarnation: 5, metaDigest: "0011223344556677" }),
    encodeMessage({ type: "suspect", name: "victim", incarnation: 1, from: "x" }),
    encodeMessage({
      type: "push-pull",
      requestId: 1,
      reply: true,
      join: true,
      part: 0,
      parts: 1,
      states: [{ name: "y", addr: "y:1", incarnation: 2, state: "dead", metaDigest: "0011223344556677" }],
    }),
    encodeMessage({
      type: "meta-chunk",
      name: "x",
      digest: "0011223344556677",
      part: 0,
      parts: 2,
      data: rand(40),
    }),
  ];
  const mutate = (b: Buffer): Buffer => {
    const out = Buffer.from(b);
    const kind = rng.int(4);
    if (kind === 0) return out.subarray(0, rng.int(out.length)); // truncate
    if (kind === 1) {
      for (let i = 0, n = 1 + rng.int(4); i < n; i++) out[rng.int(out.length)] = rng.int(256); // flip bytes
      return out;
    }
    if (kind === 2) return Buffer.concat([out, rand(1 + rng.int(30))]); // trailing garbage
    const at = rng.int(out.length); // duplicate a slice inside
    return Buffer.concat([out.subarray(0, at), out.subarray(rng.int(out.length)), out.subarray(at)]);
  };

  for (const mode of ["plaintext", "encrypted"] as const) {
    const sched = new VirtualScheduler();
    const keyring = Keyring.fromBase64(generateKey());
    const ml = new Memberlist({
      name: "victim",
      advertiseAddr: "v:1",
      transport: { localAddress: "v:1", send() {}, onPacket() {}, close: async () => {} },
      clock: new NodeClock(sched),
      seed: 1,
      ...(mode === "encrypted" ? { keyring } : { insecure: true }),
    });
    const wrap = (plain: Buffer) =>
      mode === "encrypted"
        ? keyring.seal(plain, Buffer.from("vipd"))
        : Buffer.concat([Buffer.of(0, 4), Buffer.from("vipd"), plain]);
    let seq = 0;
    const packet = () =>
      encodePacket({ sender: "x", epoch: 1, seq: seq++ }, [valid[rng.int(valid.length)] as Buffer]);
    // Plaintext exercises the decoders directly; encrypted mostly exercises authentication.
    const total = mode === "plaintext" ? 1_000_000 : 200_000;
    const inputs: Buffer[] = [];
    for (let i = 0; i < total; i++) {
      const r = rng.int(10);
      let p: Buffer;
      if (r === 0) p = rand(rng.int(1600));
      else if (r === 1) p = wrap(rand(rng.int(200)));
      else if (r < 8 || mode === "encrypted")
        p = mode === "encrypted" && r < 5 ? mutate(wrap(packet())) : wrap(mutate(packet()));
      else p = mutate(wrap(packet()));
      inputs.push(p);
      if (inputs.length === 10_000 || i === total - 1) {
        for (const x of inputs) ml.receive(x, "x:1");
        inputs.length = 0;
      }
    }
    // A replay of a well-formed packet must be refused too (fresh sender: in plaintext mode the fuzz
    // itself may have pushed sender "x" to a huge epoch, which is exactly what insecure mode cannot stop).
    const good = wrap(
      encodePacket({ sender: "fresh", epoch: 5, seq: 1 }, [
        encodeMessage({ type: "ping", seq: 1, target: "victim" }),
      ]),
    );
    ml.receive(good, "x:1");
    const before = ml.stats().rejected.replay;
    ml.receive(good, "x:1");
    assert.equal(ml.stats().rejected.replay, before + 1);
    const s = ml.stats();
    assert.equal(s.rejected.internal, 0, `${mode}: no handler blew up`);
    assert.ok(totalRejected(s) > total * 0.5, `${mode}: most fuzz rejected (${totalRejected(s)})`);
    for (const reason of mode === "plaintext" ? ["truncated", "malformed", "oversized"] : ["decrypt"])
      assert.ok(s.rejected[reason as keyof typeof s.rejected] > 0, `${mode}: some ${reason}`);
    console.log(`# fuzz ${mode}: ${total} packets, rejected ${JSON.stringify(s.rejected)}`);
    ml.stop();
  }
});
