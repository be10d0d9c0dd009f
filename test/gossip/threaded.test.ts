// The gossip thread behind ThreadedMemberlist: real UDP on loopback, three members in worker threads. The
// daemon's view (the mirrored table) must follow joins, metadata and leaves, and keys must rotate in place.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKey } from "../../lib/gossip/keyring";
import { EMPTY_METADATA, type MemberMetadata } from "../../lib/gossip/metadata";
import { ThreadedMemberlist } from "../../lib/gossip/threaded";
import { waitUntil } from "../wait";
import { loopbackThreadOptions } from "./thread-options";

const until = async (what: string, check: () => boolean, timeoutMs = 5000): Promise<void> => {
  await waitUntil(what, check, timeoutMs);
};

test("three gossip threads: join, metadata, key rotation and leave reach every mirror", async () => {
  const key = generateKey();
  const start = (name: string): Promise<ThreadedMemberlist> =>
    ThreadedMemberlist.start(loopbackThreadOptions(name, { keys: [key] }));
  const nodes = await Promise.all(["a", "b", "c"].map(start));
  try {
    for (const n of nodes) n.start();
    for (const n of nodes.slice(1)) n.join([nodes[0].advertiseAddr]);
    const aliveEverywhere = (): boolean =>
      nodes.every((n) => n.members().filter((m) => m.state === "alive").length === 3);
    await until("all three alive in every mirror", aliveEverywhere);

    const meta: MemberMetadata = { ...EMPTY_METADATA, labels: { zone: "b-zone" } };
    nodes[1].setMetadata(meta);
    assert.equal(nodes[1].member("b")?.metadata?.labels.zone, "b-zone", "own mirror updated at once");
    await until("b's metadata at a and c", () =>
      [nodes[0], nodes[2]].every((n) => n.member("b")?.metadata?.labels.zone === "b-zone"),
    );

    // A record far over one packet: fetched in chunks by the threads, decoded by each daemon side once.
    const many = Array.from({ length: 3000 }, (_, i) => `198.18.${64 + (i >> 8)}.${i & 255}`);
    nodes[1].setMetadata({
      ...meta,
      eligibility: {
        eligible: many,
        ineligible: [],
        interfaces: Object.fromEntries(many.map((ip) => [ip, "eth0"])),
      },
    });
    await until("b's 3,000-VIP record at a and c", () =>
      [nodes[0], nodes[2]].every((n) => n.member("b")?.metadata?.eligibility.eligible.length === 3000),
    );
    assert.equal(nodes[0].member("b")?.metadata?.eligibility.interfaces?.["198.18.75.183"], "eth0");

    // Rotation: add a new key everywhere, then make it primary everywhere; nobody drops out meanwhile.
    const next = generateKey();
    for (const n of nodes) n.setKeys([key, next]);
    for (const n of nodes) n.setKeys([next, key]);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(aliveEverywhere(), "still converged after the rotation");
    await until("stats come back from the thread", () => nodes[0].stats().packetsIn > 0);

    const left: string[] = [];
    nodes[0].on("leave", (m) => left.push(m.name));
    await nodes[2].leave();
    nodes[2].stop();
    await until("c left at a", () => nodes[0].member("c")?.state === "left");
    assert.deepEqual(left, ["c"]);
    // Events after a record carry no copy of it: the mirror keeps each member's last one.
    assert.equal(nodes[0].member("b")?.metadata?.eligibility.eligible.length, 3000, "b's record kept");
    assert.deepEqual(nodes[0].member("c")?.metadata?.labels, {}, "c's record kept after it left");
  } finally {
    for (const n of nodes) n.stop();
  }
});

test("our record is encoded after timers already due and the immediates they queue, once for a burst of changes", async () => {
  const node = await ThreadedMemberlist.start(loopbackThreadOptions("solo", { keys: [generateKey()] }));
  try {
    const order: string[] = [];
    // The thread's port: record what is posted to it, in order with the callbacks below.
    const worker = (node as unknown as { worker: { postMessage(m: { op: string }): void } }).worker;
    const post = worker.postMessage.bind(worker);
    worker.postMessage = (m: { op: string }) => {
      if (m.op === "setRecord") order.push("setRecord");
      post(m);
    };
    node.setMetadata({ ...EMPTY_METADATA, labels: { n: "first" } });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(order, ["setRecord"]);
    order.length = 0;
    // A probe's timer, due by the time a long step publishes (the step is the busy loop).
    setTimeout(() => {
      order.push("probe verdict");
      setImmediate(() => order.push("cleared add"));
    }, 0);
    const end = performance.now() + 5;
    while (performance.now() < end);
    for (const n of ["a", "b", "c"]) node.setMetadata({ ...EMPTY_METADATA, labels: { n } });
    assert.deepEqual(order, [], "nothing encoded in the step");
    assert.equal(node.member("solo")?.metadata?.labels.n, "c", "own mirror updated at once");
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(order, ["probe verdict", "cleared add", "setRecord"]);
  } finally {
    node.stop();
  }
});
