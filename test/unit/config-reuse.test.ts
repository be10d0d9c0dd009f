// Object reuse across a reload (lib/daemon/config-reuse.ts): the groups an edit left alone keep their
// objects and plans, and the config to run is the one a fresh activation gives, whatever the edit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { documentCache } from "../../lib/config/document-cache";
import { activate, type ActiveConfig } from "../../lib/daemon/config-state";
import { ad, docs, parse, pool, service } from "./config-helpers";

const PATH = "/reuse/pools.yaml";

function active(text: string, before?: ActiveConfig): ActiveConfig {
  const outcome = activate(parse(text, PATH), before?.allocation.state, new Date(0), before);
  if (!outcome.ok) throw new Error(outcome.errors.join("\n"));
  return outcome.active;
}

/** What the daemon runs on, object identity aside (and the lazily filled election hashes). */
function view(a: ActiveConfig): unknown {
  return {
    assignments: a.allocation.assignments,
    groups: a.groups,
    plans: [...a.plans.values()].map(({ hashes: _hashes, ...plan }) => plan),
    groupByIp: [...a.groupByIp].map(([ip, g]) => [ip, g.electionIp]),
  };
}

const shared = (name: string, protocol: string): string => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  annotations: {metallb.io/allow-shared-ip: k}
spec:
  type: LoadBalancer
  ports: [{port: 53, protocol: ${protocol}}]`;
const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `s${i}`);
const base = (extraAd = "", services = names(4).map((n) => service(n))): string =>
  docs(
    pool("p", ["198.51.100.0/28", "2001:db8::/124"]),
    ad("l2", `  ipAddressPools: [p]${extraAd}`),
    ...services,
    // One IP shared by two services (ports that do not clash): a group of two.
    shared("shared-a", "TCP"),
    shared("shared-b", "UDP"),
  ) + "\n";

const cases: Array<{ name: string; after: string; reused: (electionIps: string[]) => number }> = [
  {
    name: "a service appended: every earlier group kept",
    after: base() + "---\n" + service("zz") + "\n",
    reused: (ips) => ips.length - 1,
  },
  {
    name: "one service's labels edited, same lines: only its group is new",
    after: base(
      "",
      names(4).map((n) => service(n, n === "s2" ? { labels: { app: "x" } } : {})),
    ),
    reused: (ips) => ips.length - 1,
  },
  {
    name: "a service removed: the others before it kept, the shared pair after it new (its lines moved)",
    after: base(
      "",
      names(4)
        .filter((n) => n !== "s3")
        .map((n) => service(n)),
    ),
    reused: (ips) => ips.length - 1,
  },
  {
    name: "an advertisement edited: nothing kept (plans depend on it)",
    after: base("\n  interfaces: [eth0]"),
    reused: () => 0,
  },
];

for (const c of cases) {
  test(`config reuse: ${c.name}; the result equals a fresh activation`, () => {
    const before = active(base());
    const after = active(c.after, before);
    // A fresh parse (cache emptied: new objects) with the same previous allocation.
    documentCache.delete(PATH);
    const fresh = activate(parse(c.after, PATH), before.allocation.state, new Date(0));
    assert.ok(fresh.ok);
    assert.deepEqual(view(after), view(fresh.active));
    const kept = after.groups.filter((g) => before.groups.includes(g));
    assert.equal(kept.length, c.reused(after.groups.map((g) => g.electionIp)), "groups kept");
    for (const g of after.groups) {
      const plan = after.plans.get(g.electionIp);
      assert.equal(plan?.group, g, "each plan belongs to its group");
      if (kept.includes(g)) assert.equal(plan, before.plans.get(g.electionIp), "a kept group keeps its plan");
      else assert.notEqual(plan, before.plans.get(g.electionIp));
    }
  });
}

test("config reuse: a config parsed afresh (as in a worker) reuses nothing", () => {
  const before = active(base());
  documentCache.delete(PATH);
  const after = active(base(), before);
  assert.equal(
    after.groups.filter((g) => before.groups.includes(g)).length,
    0,
    "services that are not the identical objects make new groups",
  );
  assert.deepEqual(view(after), view(before));
});
