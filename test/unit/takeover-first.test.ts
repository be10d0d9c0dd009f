// A takeover's adds before the rest of its step (lib/daemon/takeover-first.ts): when a plan counts as a
// takeover, and the deferred rest of a step running once, in order, never after a newer step's. No root.
import assert from "node:assert/strict";
import { test } from "node:test";
import { countTakenOver, DeferredStepWork } from "../../lib/daemon/takeover-first";

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** The rest hears of settled adds in a microtask and runs on the turn after: two of the test's turns. */
const turns = async (): Promise<void> => {
  await turn();
  await turn();
};

test("countTakenOver: a wanted address not held, or held on another link; not removals or the same set", () => {
  const held = new Map([
    ["198.51.100.1", "eth0"],
    ["198.51.100.2", "eth0"],
  ]);
  const table: Array<[string, Array<[string, string]>, boolean]> = [
    ["the same set", [...held], false],
    ["a removal only", [["198.51.100.1", "eth0"]], false],
    ["nothing wanted", [], false],
    ["one more address", [...held, ["2001:db8::5", "eth0"]], true],
    ["one moved to another link", [["198.51.100.1", "eth1"]], true],
  ];
  for (const [name, wanted, expected] of table)
    assert.equal(countTakenOver(new Map(wanted), held) > 0, expected, name);
});

test("deferred step work: runs on a later turn, once; a newer step flushes it first; cancel drops it", async () => {
  const deferred = new DeferredStepWork();
  const ran: string[] = [];
  deferred.defer(() => ran.push("a"));
  assert.equal(ran.length, 0, "not in the same turn");
  await turns();
  assert.deepEqual(ran, ["a"]);
  await turns();
  assert.deepEqual(ran, ["a"], "once");

  deferred.defer(() => ran.push("b"));
  deferred.flush(); // the next step starts before the turn ends
  ran.push("newer step");
  await turns();
  assert.deepEqual(ran, ["a", "b", "newer step"], "the older step's rest before the newer step, not after");

  deferred.defer(() => ran.push("c"));
  deferred.defer(() => ran.push("d"));
  assert.deepEqual(ran.slice(3), ["c"], "deferring again runs the previous rest first");
  await turns();
  assert.deepEqual(ran.slice(3), ["c", "d"]);

  deferred.defer(() => ran.push("e"));
  deferred.cancel();
  await turns();
  assert.equal(ran.includes("e"), false, "cancelled at shutdown");
});

test("deferred step work waits for the step's adds, up to its cap; a newer step still flushes it first", async () => {
  const deferred = new DeferredStepWork(60);
  const ran: string[] = [];
  let confirm = (): void => undefined;
  const adds = new Promise<void>((resolve) => (confirm = resolve));
  deferred.defer(() => ran.push("rest"), adds);
  await turns();
  assert.equal(ran.length, 0, "not while the adds run");
  confirm();
  await adds;
  await turns();
  assert.deepEqual(ran, ["rest"], "right after the adds are confirmed");

  const never = new Promise<void>(() => undefined);
  const started = performance.now();
  deferred.defer(() => ran.push("capped"), never);
  while (!ran.includes("capped")) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(performance.now() - started >= 55, "not before the cap");

  deferred.defer(() => ran.push("old"), never);
  deferred.flush();
  ran.push("newer step");
  assert.deepEqual(ran.slice(-2), ["old", "newer step"]);

  const failed = Promise.reject(new Error("netlink"));
  deferred.defer(() => ran.push("after a failed pass"), failed);
  await failed.catch(() => undefined);
  await turns();
  assert.equal(ran.at(-1), "after a failed pass");
  deferred.cancel();
});
