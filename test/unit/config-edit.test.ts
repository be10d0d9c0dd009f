// A reload that only adds and removes services is applied to the config in force as an edit
// (lib/daemon/config-edit.ts, lib/alloc/allocator.ts allocateEdit). Whatever the edit, the config to run must
// be the one a full activation gives: random sequences of edits, each compared with a fresh parse activated
// in full over a copy of the same previous state (a copy: allocate() resumes no kept run for it).
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { allocatorRuns } from "../../lib/alloc/allocator";
import type { AllocationState } from "../../lib/alloc/types";
import { documentCache } from "../../lib/config/document-cache";
import {
  editActivations,
  editedAdvertisedInterfaces,
  editFrom,
  serviceEdit,
} from "../../lib/daemon/config-edit";
import { activate, advertisedInterfaces, type ActiveConfig } from "../../lib/daemon/config-state";
import { exposedGc } from "../../lib/daemon/heap-mode";
import { ad, docs, parse, pool, service } from "./config-helpers";

const PATH = "/edit/pools.yaml";

/** What the daemon runs on, object identity aside (and the lazily filled election hashes). */
function view(a: ActiveConfig): unknown {
  return {
    allocation: JSON.parse(JSON.stringify(a.allocation)) as unknown,
    // The state file's text: its key order is part of it.
    state: JSON.stringify(a.allocation.state),
    groups: a.groups,
    // As maps: an edit adds its entries last, and nothing reads them in order.
    plans: [...a.plans]
      .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
      .map(([ip, { hashes: _hashes, ...plan }]) => [ip, plan]),
    groupByIp: [...a.groupByIp]
      .map(([ip, g]) => [ip, g.electionIp])
      .sort(([x], [y]) => ((x as string) < (y as string) ? -1 : 1)),
  };
}

const sorted = (m: ReadonlyMap<string, readonly string[]>): Array<[string, readonly string[]]> =>
  [...m].sort(([a], [b]) => (a < b ? -1 : 1));

const POOLS = docs(
  pool("small", ["198.51.100.0/29", "2001:db8::/126"]),
  pool("other", ["203.0.113.0/30"]),
  ad("l2", "  ipAddressPools: [small, other]"),
);

/** Service kinds: plain ones of several shapes (the edit path's), and some that send it back to a full run. */
const kinds: Array<(name: string) => string> = [
  (n) => service(n),
  (n) => service(n, { annotations: { "metallb.io/address-pool": "other" } }),
  (n) => service(n, { spec: "  ipFamilies: [IPv6]" }),
  (n) => service(n, { annotations: { "metallb.io/loadBalancerIPs": "198.51.100.3" } }),
  (n) => service(n, { annotations: { "metallb.io/address-pool": "missing" } }),
  (n) => service(n, { annotations: { "metallb.io/loadBalancerIPs": "not-an-ip" } }),
  (n) => service(n, { annotations: { "metallb.io/allow-shared-ip": "k" } }),
  (n) => service(n, { spec: "  ipFamilyPolicy: PreferDualStack" }),
];

function activated(text: string, before: ActiveConfig | undefined): ActiveConfig {
  const outcome = activate(parse(text, PATH), before?.allocation.state, new Date(0), before);
  assert.ok(outcome.ok, outcome.ok ? "" : outcome.errors.join("\n"));
  return outcome.active;
}

/** The same text parsed afresh and activated in full, the document cache left as it was. */
function full(text: string, previous: AllocationState | undefined): ActiveConfig {
  const cached = documentCache.get(PATH);
  documentCache.delete(PATH);
  try {
    const copy = previous && (JSON.parse(JSON.stringify(previous)) as AllocationState);
    const outcome = activate(parse(text, PATH), copy, new Date(0));
    assert.ok(outcome.ok);
    return outcome.active;
  } finally {
    if (cached) documentCache.set(PATH, cached);
    else documentCache.delete(PATH);
  }
}

test("config edit: random adds, removals and edits give the config a full activation gives", () => {
  const edits = editActivations.count;
  const patched = allocatorRuns.edited;
  fc.assert(
    fc.property(
      fc.array(fc.record({ index: fc.nat(15), kind: fc.nat(kinds.length * 3), edit: fc.boolean() }), {
        minLength: 1,
        maxLength: 25,
      }),
      (steps) => {
        documentCache.delete(PATH);
        // Insertion order: a new service is appended (its document is new, the others keep their lines).
        const present = new Map<number, string>();
        let before: ActiveConfig | undefined;
        for (const step of steps) {
          const name = `s${step.index}`;
          // Mostly plain services; every other kind now and then.
          const kind = kinds[step.kind < kinds.length * 2 ? step.kind % 4 : step.kind % kinds.length];
          if (present.has(step.index) && step.edit)
            present.set(step.index, (kind ?? kinds[0])(name) + "\n  # edited");
          else if (present.has(step.index)) present.delete(step.index);
          else present.set(step.index, (kind ?? kinds[0])(name));
          const text = docs(POOLS, ...present.values()) + "\n";
          const after = activated(text, before);
          assert.deepEqual(view(after), view(full(text, before?.allocation.state)));
          // What the tracker is given after an edit: the map patched equals the map made afresh.
          const edit = before && editFrom(after, before);
          if (before && edit) {
            const patched = editedAdvertisedInterfaces(advertisedInterfaces(before, {}), after, {}, edit);
            assert.deepEqual(sorted(patched.vips), sorted(advertisedInterfaces(after, {})));
            const beforeIps = new Set(before.groupByIp.keys());
            assert.deepEqual(
              [...patched.added].sort(),
              [...after.groupByIp.keys()]
                .filter((ip) => !beforeIps.has(ip) || patched.removed.includes(ip))
                .sort(),
            );
          }
          before = after;
        }
      },
    ),
    { numRuns: 300 },
  );
  assert.ok(editActivations.count - edits > 300, `edit path taken ${editActivations.count - edits} times`);
  assert.equal(allocatorRuns.edited - patched >= editActivations.count - edits, true);
});

test("config edit: a service appended keeps every other group and plan; an edited one is no edit", () => {
  const text = docs(POOLS, service("a"), service("b")) + "\n";
  documentCache.delete(PATH);
  const before = activated(text, undefined);
  const edits = editActivations.count;
  const after = activated(text + "---\n" + service("c") + "\n", before);
  assert.equal(editActivations.count, edits + 1, "the edit path ran");
  assert.equal(after.groups.length, 3);
  for (const group of before.groups) {
    assert.ok(after.groups.includes(group), `group ${group.electionIp} kept`);
    assert.equal(after.plans.get(group.electionIp), before.plans.get(group.electionIp));
  }
  const dropped = parse(docs(POOLS, service("a")) + "\n", PATH).config;
  assert.ok(dropped);
  assert.deepEqual(serviceEdit(before.config, dropped)?.removed, ["default/b"], "a removal is found");
  const edited = parse(docs(POOLS, service("a", { labels: { x: "y" } }), service("b")) + "\n", PATH).config;
  assert.ok(edited);
  assert.equal(serviceEdit(before.config, edited), undefined, "an edited service is not an add or a removal");
});

test("config edit: a config made by an edit does not keep the configs before it alive", async () => {
  // Held strongly, each config kept the one it was edited from, that one its own, and so on: every reload
  // of a 10,000-service config left ~3.4 MB of copied maps behind for the life of the process.
  const gc = exposedGc();
  documentCache.delete(PATH);
  let text = docs(POOLS, service("a")) + "\n";
  let current = activated(text, undefined);
  const earlier: Array<WeakRef<ActiveConfig>> = [];
  const edits = editActivations.count;
  for (const name of ["b", "c", "d"]) {
    earlier.push(new WeakRef(current));
    text += "---\n" + service(name) + "\n";
    const next = activated(text, current);
    assert.equal(editFrom(next, current)?.before, current, "the edit is known while its base is held");
    current = next;
  }
  assert.equal(editActivations.count, edits + 3, "every reload took the edit path");
  // A WeakRef's target stays alive until the job that made or read it ends.
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  assert.deepEqual(
    earlier.map((ref) => ref.deref() === undefined),
    [true, true, true],
    "no earlier config is reachable from the one in force",
  );
  assert.equal(current.groups.length, 4);
});
