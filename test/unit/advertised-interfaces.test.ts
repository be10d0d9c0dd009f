// The interfaces each VIP follows on this node (lib/daemon/config-state.ts advertisedInterfaces): worked out
// once per set of advertisements and shared, it must give every VIP what the per-group computation gave.
import { test } from "node:test";
import assert from "node:assert/strict";
import { activate, advertisedInterfaces, type ActiveConfig } from "../../lib/daemon/config-state";
import { planGroup, selectsNode } from "../../lib/election/election";
import type { Labels } from "../../lib/config/types";
import { ad, docs, parse, pool, service } from "./config-helpers";

const text = docs(
  pool("p1", ["198.51.100.0/28"]),
  pool("p2", ["203.0.113.0/28"]),
  pool("p3", ["2001:db8::/124"]),
  ad("a1", "  ipAddressPools: [p1]\n  interfaces: [eth1, eth0]"),
  ad("a2", "  ipAddressPools: [p1, p2]\n  interfaces: [eth2, eth0]"),
  ad("a3", "  ipAddressPools: [p2]\n  interfaces: [eth3]\n  nodeSelectors: [{matchLabels: {zone: a}}]"),
  ad("a4", "  ipAddressPools: [p3]"),
  ad("a5", "  ipAddressPools: [p3]\n  interfaces: [eth9]"),
  ...["p1", "p2", "p3"].flatMap((p) =>
    [0, 1, 2].map((i) =>
      service(`${p}-s${i}`, {
        annotations: { "metallb.io/address-pool": p },
        spec: p === "p3" ? "  ipFamilies: [IPv6]" : "",
      }),
    ),
  ),
);

/** The per-group computation the shared one replaced. */
function reference(active: ActiveConfig, labels: Labels): Map<string, readonly string[]> {
  const vips = new Map<string, readonly string[]>();
  for (const group of active.groups) {
    const mine = planGroup(group, active.config).distinctAds.filter((a) => selectsNode(a, labels));
    const interfaces = mine.some((a) => a.interfaces.length === 0)
      ? []
      : [...new Set(mine.flatMap((a) => a.interfaces))].sort();
    for (const ip of group.ips) vips.set(ip, interfaces);
  }
  return vips;
}

for (const labels of [{ zone: "a" }, { zone: "b" }, {}] as Labels[]) {
  test(`advertised interfaces per VIP, shared per advertisement set: node labels ${JSON.stringify(labels)}`, () => {
    const outcome = activate(parse(text, "/advertised/pools.yaml"), undefined, new Date(0));
    assert.ok(outcome.ok);
    const got = advertisedInterfaces(outcome.active, labels);
    assert.equal(got.size, 9, "every VIP");
    assert.deepEqual([...got].sort(), [...reference(outcome.active, labels)].sort());
    const p1 = [...got].filter(([ip]) => ip.startsWith("198.51.100."));
    assert.deepEqual(p1[0]?.[1], ["eth0", "eth1", "eth2"], "a1 and a2 merged, sorted, without duplicates");
    assert.ok(
      p1.every(([, list]) => list === p1[0]?.[1]),
      "one list object for every VIP with the same advertisements",
    );
    const p2 = [...got].find(([ip]) => ip.startsWith("203.0.113."))?.[1];
    assert.deepEqual(p2, labels.zone === "a" ? ["eth0", "eth2", "eth3"] : ["eth0", "eth2"]);
    const p3 = [...got].find(([ip]) => ip.startsWith("2001:db8:"))?.[1];
    assert.deepEqual(p3, [], "an advertisement naming no interface means any (by subnet)");
  });
}
