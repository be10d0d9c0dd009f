// Kubernetes label-selector semantics, table-driven.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  EVERYTHING,
  matchesSelector,
  parseSelector,
  selectorDuplicateProblems,
  selectorsMatchAny,
  selectorString,
  validateSelector,
} from "../../lib/config/selectors";
import { didYouMean } from "../../lib/config/suggest";
import type { LabelSelector } from "../../lib/config/types";

const sel = (value: unknown): LabelSelector => {
  const parsed = parseSelector(value);
  assert.ok(parsed.selector, parsed.problems.join("; "));
  return parsed.selector;
};

test("matchLabels and every operator follow Kubernetes semantics (AND inside a selector)", () => {
  const labels = { app: "web", tier: "front" };
  const cases: [unknown, Record<string, string>, boolean][] = [
    [{}, labels, true],
    [{ matchLabels: { app: "web" } }, labels, true],
    [{ matchLabels: { app: "db" } }, labels, false],
    [{ matchLabels: { app: "web", tier: "back" } }, labels, false],
    [{ matchExpressions: [{ key: "app", operator: "In", values: ["web", "api"] }] }, labels, true],
    [{ matchExpressions: [{ key: "app", operator: "In", values: ["api"] }] }, labels, false],
    [{ matchExpressions: [{ key: "missing", operator: "In", values: ["x"] }] }, labels, false],
    [{ matchExpressions: [{ key: "app", operator: "NotIn", values: ["api"] }] }, labels, true],
    [{ matchExpressions: [{ key: "missing", operator: "NotIn", values: ["x"] }] }, labels, true],
    [{ matchExpressions: [{ key: "app", operator: "NotIn", values: ["web"] }] }, labels, false],
    [{ matchExpressions: [{ key: "tier", operator: "Exists" }] }, labels, true],
    [{ matchExpressions: [{ key: "zone", operator: "Exists" }] }, labels, false],
    [{ matchExpressions: [{ key: "zone", operator: "DoesNotExist" }] }, labels, true],
    [{ matchExpressions: [{ key: "app", operator: "DoesNotExist" }] }, labels, false],
    [
      { matchLabels: { app: "web" }, matchExpressions: [{ key: "tier", operator: "In", values: ["back"] }] },
      labels,
      false,
    ],
    [{ matchLabels: { app: "" } }, { app: "" }, true],
    [{ matchLabels: { constructor: "x" } }, {}, false],
  ];
  for (const [raw, target, want] of cases) {
    assert.equal(matchesSelector(sel(raw), target), want, JSON.stringify([raw, target]));
  }
});

test("selectorsMatchAny is OR; the caller decides what an empty list means", () => {
  const a = sel({ matchLabels: { a: "1" } });
  const b = sel({ matchLabels: { b: "1" } });
  assert.equal(selectorsMatchAny([a, b], { b: "1" }), true);
  assert.equal(selectorsMatchAny([a, b], { c: "1" }), false);
  assert.equal(selectorsMatchAny([], { c: "1" }), true);
  assert.equal(selectorsMatchAny([], { c: "1" }, false), false);
  assert.equal(matchesSelector(EVERYTHING, {}), true);
});

test("canonical strings are order-independent and drive duplicate detection", () => {
  const one = sel({
    matchLabels: { b: "2", a: "1" },
    matchExpressions: [
      { key: "z", operator: "In", values: ["y", "x"] },
      { key: "g", operator: "DoesNotExist" },
    ],
  });
  const two = sel({
    matchExpressions: [
      { key: "g", operator: "DoesNotExist" },
      { key: "z", operator: "In", values: ["x", "y"] },
    ],
    matchLabels: { a: "1", b: "2" },
  });
  assert.equal(selectorString(one), "!g,a=1,b=2,z in (x,y)");
  assert.equal(selectorString(one), selectorString(two));
  assert.deepEqual(selectorDuplicateProblems([one, two], "nodeSelectors"), [
    'duplicate definition of nodeSelectors "!g,a=1,b=2,z in (x,y)"',
  ]);
  assert.deepEqual(selectorDuplicateProblems([one, sel({ matchLabels: { a: "1" } })], "nodeSelectors"), []);
});

test("Kubernetes validation rules", () => {
  const cases: [unknown, string | undefined][] = [
    [
      { matchExpressions: [{ key: "a", operator: "In", values: [] }] },
      "values: for 'in', 'notin' operators, values set can't be empty",
    ],
    [
      { matchExpressions: [{ key: "a", operator: "Exists", values: ["x"] }] },
      "values: values set must be empty for exists and does not exist",
    ],
    [
      { matchExpressions: [{ key: "a", operator: "in", values: ["x"] }] },
      '"in" is not a valid label selector operator',
    ],
    [{ matchLabels: { "example.com/app": "ok" } }, undefined],
    [{ matchLabels: { "Example.com/app": "x" } }, "prefix must be a DNS subdomain"],
    [{ matchLabels: { "-bad": "x" } }, "name part must be"],
    [{ matchLabels: { ok: "x".repeat(64) } }, "must be at most 63 characters"],
  ];
  for (const [raw, want] of cases) {
    const problems = parseSelector(raw).problems;
    if (want === undefined) assert.deepEqual(problems, []);
    else
      assert.ok(
        problems.some((p) => p.includes(want)),
        `${JSON.stringify(raw)}: ${problems.join("; ")}`,
      );
  }
  assert.deepEqual(validateSelector(EVERYTHING), []);
  assert.deepEqual(parseSelector({ matchLabel: {} }).problems, ['unknown field "matchLabel"']);
});

test("didYouMean finds near misses (including swapped letters) and ignores far ones", () => {
  const fields = ["addresses", "autoAssign", "avoidBuggyIPs", "serviceAllocation"];
  assert.equal(didYouMean("adresses", fields), "addresses");
  assert.equal(didYouMean("autoassign", fields), "autoAssign");
  assert.equal(didYouMean("spce", ["spec", "status"]), "spec");
  assert.equal(didYouMean("zzzz", fields), undefined);
});
