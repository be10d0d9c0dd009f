import assert from "node:assert/strict";
import { test } from "node:test";
import { compareText } from "../../lib/order";

test("compareText is byte order, as Go's sort.Strings, whatever the locale", () => {
  const names = ["node-b", "Node-C", "node-a", "2001:db8::1", "20010", "ns/chat", "ns/data", "a-b", "ab"];
  const sorted = [...names].sort(compareText);
  const bytes = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  assert.deepEqual(sorted, bytes);
  // The cases where a collation differs from bytes: case, and ':' after the digits.
  assert.ok(sorted.indexOf("Node-C") < sorted.indexOf("node-a"));
  assert.ok(sorted.indexOf("20010") < sorted.indexOf("2001:db8::1"));
  assert.equal(compareText("x", "x"), 0);
});
