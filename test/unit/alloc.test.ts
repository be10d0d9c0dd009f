import { test } from "node:test";
import assert from "node:assert/strict";
import { allocate } from "../../lib/alloc/allocator";
import type { AllocationResult, AllocationState } from "../../lib/alloc/types";
import type { AddressPool, Service } from "../../lib/config/types";
import { config, pool, selector, svc } from "./alloc-builders";

/** service key -> `ip,ip@pool` or `error: text`, so tables can state expectations compactly. */
function outcomes(result: AllocationResult): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of result.assignments) out[a.service] = `${a.ips.join(",")}@${a.pool}`;
  for (const e of result.errors)
    out[e.service] = `${out[e.service] ? `${out[e.service]} ` : ""}error: ${e.message}`;
  return out;
}

function stateOf(assignments: Record<string, [string[], string]>): AllocationState {
  const out: Record<string, { ips: string[]; pool: string }> = {};
  for (const [key, [ips, p]] of Object.entries(assignments)) out[key] = { ips, pool: p };
  return { version: 1, assignments: out };
}

interface Case {
  name: string;
  pools: AddressPool[];
  services: Service[];
  previous?: AllocationState;
  want: Record<string, string>;
  warnings?: string[];
}

function runCases(cases: Case[]): void {
  for (const c of cases) {
    const result = allocate(config(c.pools, c.services), c.previous);
    assert.deepEqual(outcomes(result), c.want, c.name);
    if (c.warnings)
      assert.deepEqual(
        result.warnings.map((w) => w.message),
        c.warnings,
        c.name,
      );
  }
}

test("seed example: dns services share 192.168.10.6, traefik gets the first default-pool address", () => {
  const result = allocate(
    config(
      [
        pool("default-pool", ["192.168.10.50-192.168.10.60"]),
        pool("dns-pool", ["192.168.10.6/32"], { autoAssign: false }),
      ],
      [
        svc("kube-system/traefik", { ports: ["TCP/80", "TCP/443"] }),
        svc("dns-udp", { ports: ["UDP/53"], ips: ["192.168.10.6"], share: "dns-svc" }),
        svc("dns-tcp", { ports: ["TCP/53"], ips: ["192.168.10.6"], share: "dns-svc" }),
      ],
    ),
    undefined,
  );
  assert.deepEqual(outcomes(result), {
    "default/dns-tcp": "192.168.10.6@dns-pool",
    "default/dns-udp": "192.168.10.6@dns-pool",
    "kube-system/traefik": "192.168.10.50@default-pool",
  });
  assert.deepEqual(result.pools, [
    { pool: "default-pool", ipv4: { inUse: 1, total: 11 }, ipv6: { inUse: 0, total: 0 } },
    { pool: "dns-pool", ipv4: { inUse: 1, total: 1 }, ipv6: { inUse: 0, total: 0 } },
  ]);
  assert.deepEqual(result.state.assignments["default/dns-tcp"], { ips: ["192.168.10.6"], pool: "dns-pool" });
  assert.deepEqual(result.warnings, []);
});

test("decision order and explicit-IP errors use MetalLB's texts", () => {
  const pools = [
    pool("a", ["10.0.0.0/30"]),
    pool("b", ["10.0.1.0/30"], { autoAssign: false }),
    pool("ns-only", ["10.0.2.0/30"], { namespaces: ["prod"] }),
    pool("v6", ["2001:db8::/126"]),
  ];
  runCases([
    {
      name: "explicit IP wins over the pool annotation when both agree",
      pools,
      services: [svc("s", { ips: ["10.0.1.2"], pool: "b" })],
      want: { "default/s": "10.0.1.2@b" },
    },
    {
      name: "explicit IPs ignore autoAssign",
      pools,
      services: [svc("s", { ips: ["10.0.1.1"] })],
      want: { "default/s": "10.0.1.1@b" },
    },
    {
      name: "requestError becomes the service's error",
      pools,
      services: [svc("s", { requestError: 'invalid spec.loadBalancerIP "x"' }), svc("t")],
      want: { "default/s": 'error: invalid spec.loadBalancerIP "x"', "default/t": "10.0.0.0@a" },
    },
    {
      name: "IP outside every pool",
      pools,
      services: [svc("s", { ips: ["192.0.2.1"] })],
      want: { "default/s": 'error: ["192.0.2.1"] is not allowed in config' },
    },
    {
      name: "dual request across two pools is not allowed",
      pools,
      services: [svc("s", { ips: ["10.0.0.1", "2001:db8::1"] })],
      want: { "default/s": 'error: ["10.0.0.1" "2001:db8::1"] is not allowed in config' },
    },
    {
      name: "explicit IP in an incompatible pool",
      pools,
      services: [svc("s", { ips: ["10.0.2.1"] })],
      want: { "default/s": "error: pool ns-only not compatible for ip assignment" },
    },
    {
      name: "explicit IP in a compatible namespace",
      pools,
      services: [svc("prod/s", { ips: ["10.0.2.1"] })],
      want: { "prod/s": "10.0.2.1@ns-only" },
    },
    {
      name: "explicit IP and pool annotation disagree",
      pools,
      services: [svc("s", { ips: ["10.0.0.1"], pool: "b" })],
      want: {
        "default/s":
          'error: requested loadBalancer IP(s) ["10.0.0.1"] is not compatible with requested address pool b',
      },
    },
    {
      name: "new explicit requests are served before new auto-assigned services",
      pools: [pool("p", ["10.0.5.0/31"])],
      services: [svc("a-auto"), svc("z-explicit", { ips: ["10.0.5.0"] })],
      want: { "default/a-auto": "10.0.5.1@p", "default/z-explicit": "10.0.5.0@p" },
    },
    {
      name: "requested family differs from ipFamilies",
      pools,
      services: [svc("s", { ips: ["10.0.0.1"], families: ["IPv6"] })],
      want: {
        "default/s":
          'error: requested loadBalancer IP(s) ["10.0.0.1"] does not match the ipFamily of the service',
      },
    },
    {
      name: "RequireDualStack with one requested IP",
      pools,
      services: [svc("s", { ips: ["10.0.0.1"], policy: "RequireDualStack" })],
      want: {
        "default/s":
          'error: requested loadBalancer IP(s) ["10.0.0.1"] does not match the ipFamily of the service',
      },
    },
    {
      name: "family comes from the requested IP when ipFamilies is empty",
      pools,
      services: [svc("s", { ips: ["2001:db8::2"] })],
      want: { "default/s": "2001:db8::2@v6" },
    },
    {
      name: "pool annotation ignores autoAssign",
      pools,
      services: [svc("s", { pool: "b" })],
      want: { "default/s": "10.0.1.0@b" },
    },
    {
      name: "unknown pool",
      pools,
      services: [svc("s", { pool: "nope" })],
      want: { "default/s": 'error: unknown pool "nope"' },
    },
    {
      name: "pool annotation naming an incompatible pool",
      pools,
      services: [svc("s", { pool: "ns-only" })],
      want: { "default/s": "error: pool ns-only not compatible for ip assignment" },
    },
    {
      name: "exhausted pool by annotation, then generic auto-assign failure",
      pools: [pool("tiny", ["10.0.0.1/32"], { autoAssign: false })],
      services: [svc("a", { pool: "tiny" }), svc("b", { pool: "tiny" }), svc("c")],
      want: {
        "default/a": "10.0.0.1@tiny",
        "default/b": "error: no available IPs in pool tiny",
        "default/c": "error: no available IPs",
      },
    },
    {
      name: "IPv6 service from an IPv4-only pool by annotation",
      pools,
      services: [svc("s", { pool: "a", families: ["IPv6"] })],
      want: { "default/s": "error: no available IPs in pool a for ipv6 IPFamily" },
    },
    {
      name: "RequireDualStack from an IPv4-only pool by annotation",
      pools,
      services: [svc("s", { pool: "a", policy: "RequireDualStack" })],
      want: { "default/s": "error: no available IPs in pool a for dual IPFamily" },
    },
    {
      name: "no pools at all",
      pools: [],
      services: [svc("s"), svc("t", { ips: ["10.0.0.1"] })],
      want: {
        "default/s": "error: no available IPs",
        "default/t": 'error: ["10.0.0.1"] is not allowed in config',
      },
    },
  ]);
});

test("sharing: key, backend key and ports, with MetalLB's texts", () => {
  const pools = [pool("p", ["10.0.0.0/31"])];
  runCases([
    {
      name: "same key, different ports: co-located automatically",
      pools,
      services: [svc("a", { share: "k", ports: ["TCP/53"] }), svc("b", { share: "k", ports: ["UDP/53"] })],
      want: { "default/a": "10.0.0.0@p", "default/b": "10.0.0.0@p" },
    },
    {
      name: "same key, same port: the second moves on",
      pools,
      services: [svc("a", { share: "k", ports: ["TCP/80"] }), svc("b", { share: "k", ports: ["TCP/80"] })],
      want: { "default/a": "10.0.0.0@p", "default/b": "10.0.0.1@p" },
    },
    {
      name: "explicit port clash",
      pools,
      services: [
        svc("a", { share: "k", ports: ["TCP/80"], ips: ["10.0.0.1"] }),
        svc("b", { share: "k", ports: ["TCP/80"], ips: ["10.0.0.1"] }),
      ],
      want: { "default/a": "10.0.0.1@p", "default/b": 'error: port TCP/80 is already in use on "10.0.0.1"' },
    },
    {
      name: "different sharing key",
      pools,
      services: [
        svc("a", { share: "k", ips: ["10.0.0.1"] }),
        svc("b", { share: "other", ips: ["10.0.0.1"] }),
      ],
      want: {
        "default/a": "10.0.0.1@p",
        "default/b": 'error: can\'t change sharing key for "default/b", address also in use by default/a',
      },
    },
    {
      name: "no sharing key at all, others listed sorted",
      pools,
      services: [
        svc("a", { share: "k", ports: ["TCP/1"], ips: ["10.0.0.1"] }),
        svc("b", { share: "k", ports: ["TCP/2"], ips: ["10.0.0.1"] }),
        svc("c", { ips: ["10.0.0.1"] }),
      ],
      want: {
        "default/a": "10.0.0.1@p",
        "default/b": "10.0.0.1@p",
        "default/c":
          'error: can\'t change sharing key for "default/c", address also in use by default/a,default/b',
      },
    },
    {
      name: "Local services with different selectors cannot share",
      pools,
      services: [
        svc("a", { share: "k", ips: ["10.0.0.1"], localSelector: { app: "x" } }),
        svc("b", { share: "k", ips: ["10.0.0.1"], localSelector: { app: "y" } }),
        svc("c", { share: "k", ips: ["10.0.0.1"] }),
      ],
      want: {
        "default/a": "10.0.0.1@p",
        "default/b": 'error: can\'t change sharing key for "default/b", address also in use by default/a',
        "default/c": 'error: can\'t change sharing key for "default/c", address also in use by default/a',
      },
    },
    {
      name: "Local services with the same selector share",
      pools,
      services: [
        svc("a", { share: "k", ports: ["TCP/1"], ips: ["10.0.0.1"], localSelector: { app: "x", tier: "1" } }),
        svc("b", { share: "k", ports: ["TCP/2"], ips: ["10.0.0.1"], localSelector: { tier: "1", app: "x" } }),
      ],
      want: { "default/a": "10.0.0.1@p", "default/b": "10.0.0.1@p" },
    },
    {
      name: "an unshared address is skipped by auto-assign, a shareable lower one is preferred",
      pools: [pool("p", ["10.0.0.0/30"])],
      services: [
        svc("a", { ips: ["10.0.0.0"] }),
        svc("b", { share: "k", ports: ["TCP/1"], ips: ["10.0.0.1"] }),
        svc("c", { share: "k", ports: ["TCP/2"] }),
        svc("d"),
      ],
      want: {
        "default/a": "10.0.0.0@p",
        "default/b": "10.0.0.1@p",
        "default/c": "10.0.0.1@p",
        "default/d": "10.0.0.2@p",
      },
    },
  ]);
});

test("auto-assign: pinned pools by priority, then unpinned, ties by pool name", () => {
  runCases([
    {
      name: "priority > 0 ascending before priority 0, before unpinned",
      pools: [
        pool("aaa-unpinned", ["10.0.0.0/32"]),
        pool("p0", ["10.0.1.0/32"], { pinned: true }),
        pool("p2", ["10.0.2.0/32"], { priority: 2 }),
        pool("p1", ["10.0.3.0/32"], { priority: 1 }),
      ],
      services: [svc("a"), svc("b"), svc("c"), svc("d"), svc("e")],
      want: {
        "default/a": "10.0.3.0@p1",
        "default/b": "10.0.2.0@p2",
        "default/c": "10.0.1.0@p0",
        "default/d": "10.0.0.0@aaa-unpinned",
        "default/e": "error: no available IPs",
      },
    },
    {
      name: "equal priority and unpinned pools go by name (MetalLB: random)",
      pools: [
        pool("zeta", ["10.0.9.0/32"]),
        pool("alpha", ["10.0.8.0/32"]),
        pool("pin-b", ["10.0.7.0/32"], { priority: 5 }),
        pool("pin-a", ["10.0.6.0/32"], { priority: 5 }),
      ],
      services: [svc("a"), svc("b"), svc("c"), svc("d")],
      want: {
        "default/a": "10.0.6.0@pin-a",
        "default/b": "10.0.7.0@pin-b",
        "default/c": "10.0.8.0@alpha",
        "default/d": "10.0.9.0@zeta",
      },
    },
    {
      name: "pinned pools need autoAssign and compatibility; pinned pools are never used as unpinned",
      pools: [
        pool("off", ["10.0.1.0/32"], { priority: 1, autoAssign: false }),
        pool("prod", ["10.0.2.0/32"], { namespaces: ["prod"] }),
        pool("web", ["10.0.3.0/32"], { serviceSelectors: [selector({ app: "web" })] }),
        pool("rest", ["10.0.4.0/31"]),
      ],
      services: [
        svc("prod/x"),
        svc("default/web", { labels: { app: "web" } }),
        svc("default/other", { labels: { app: "db" } }),
        svc("prod/y"),
      ],
      want: {
        "prod/x": "10.0.2.0@prod",
        "default/web": "10.0.3.0@web",
        "default/other": "10.0.4.0@rest",
        "prod/y": "10.0.4.1@rest",
      },
    },
    {
      name: "a serviceAllocation pinned to nobody is never auto-assigned, but explicit requests may use it",
      pools: [pool("nobody", ["10.0.1.0/31"], { unpinnable: true }), pool("z", ["10.0.2.0/32"])],
      services: [svc("a"), svc("b"), svc("c", { ips: ["10.0.1.1"] }), svc("d", { pool: "nobody" })],
      want: {
        "default/a": "10.0.2.0@z",
        "default/b": "error: no available IPs",
        "default/c": "10.0.1.1@nobody",
        "default/d": "10.0.1.0@nobody",
      },
    },
    {
      name: "service selectors use full label-selector semantics (OR over selectors)",
      pools: [
        pool("sel", ["10.0.1.0/30"], {
          serviceSelectors: [
            { matchLabels: {}, matchExpressions: [{ key: "tier", operator: "In", values: ["web", "api"] }] },
            { matchLabels: {}, matchExpressions: [{ key: "legacy", operator: "Exists", values: [] }] },
          ],
        }),
        pool("z", ["10.0.2.0/30"]),
      ],
      services: [
        svc("a", { labels: { tier: "api" } }),
        svc("b", { labels: { legacy: "" } }),
        svc("c", { labels: { tier: "db" } }),
        svc("d", { labels: { tier: "db" }, pool: "sel" }),
      ],
      want: {
        "default/a": "10.0.1.0@sel",
        "default/b": "10.0.1.1@sel",
        "default/c": "10.0.2.0@z",
        "default/d": "error: pool sel not compatible for ip assignment",
      },
    },
  ]);
});

test("inside a pool: lowest free address in addresses order; avoidBuggyIPs skips .0 and .255", () => {
  runCases([
    {
      name: "addresses order, not numeric order",
      pools: [pool("p", ["10.0.5.0/31", "10.0.1.0/32"])],
      services: [svc("a"), svc("b"), svc("c")],
      want: { "default/a": "10.0.5.0@p", "default/b": "10.0.5.1@p", "default/c": "10.0.1.0@p" },
    },
    {
      name: "network and broadcast are handed out without avoidBuggyIPs",
      pools: [pool("p", ["10.0.0.255-10.0.1.1"])],
      services: [svc("a"), svc("b")],
      want: { "default/a": "10.0.0.255@p", "default/b": "10.0.1.0@p" },
    },
    {
      name: "avoidBuggyIPs skips them",
      pools: [pool("p", ["10.0.0.255-10.0.1.1"], { avoidBuggyIPs: true })],
      services: [svc("a"), svc("b")],
      want: { "default/a": "10.0.1.1@p", "default/b": "error: no available IPs" },
    },
    {
      name: "avoidBuggyIPs pools do not even match a requested .0",
      pools: [pool("p", ["10.0.1.0/24"], { avoidBuggyIPs: true })],
      services: [svc("a", { ips: ["10.0.1.0"] })],
      want: { "default/a": 'error: ["10.0.1.0"] is not allowed in config' },
    },
    {
      name: "avoidBuggyIPs has no effect on IPv6",
      pools: [pool("p", ["2001:db8::ff/128", "2001:db8::100/128"], { avoidBuggyIPs: true })],
      services: [svc("a", { families: ["IPv6"] })],
      want: { "default/a": "2001:db8::ff@p" },
    },
  ]);
  const usage = allocate(
    config(
      [pool("p", ["10.0.0.0/23", "10.0.2.0/31", "10.0.3.254/31", "2001:db8::/120"], { avoidBuggyIPs: true })],
      [],
    ),
    undefined,
  );
  assert.deepEqual(usage.pools, [
    { pool: "p", ipv4: { inUse: 0, total: 512 - 4 + 1 + 1 }, ipv6: { inUse: 0, total: 256 } },
  ]);
});

test("dual-stack policies", () => {
  const dualPool = pool("dual", ["10.0.0.0/31", "2001:db8::/127"]);
  const v4Pool = pool("v4", ["10.0.1.0/31"]);
  const v6Pool = pool("v6", ["2001:db8:1::/127"]);
  runCases([
    {
      name: "SingleStack IPv6 from ipFamilies",
      pools: [v4Pool, v6Pool],
      services: [svc("s", { families: ["IPv6"] })],
      want: { "default/s": "2001:db8:1::@v6" },
    },
    {
      name: "RequireDualStack needs one pool with both families, IPv4 first by default",
      pools: [v4Pool, v6Pool, dualPool],
      services: [svc("s", { policy: "RequireDualStack" })],
      want: { "default/s": "10.0.0.0,2001:db8::@dual" },
    },
    {
      name: "RequireDualStack with IPv6 primary lists IPv6 first",
      pools: [dualPool],
      services: [svc("s", { policy: "RequireDualStack", families: ["IPv6", "IPv4"] })],
      want: { "default/s": "2001:db8::,10.0.0.0@dual" },
    },
    {
      name: "RequireDualStack without a dual pool fails generically",
      pools: [v4Pool, v6Pool],
      services: [svc("s", { policy: "RequireDualStack" })],
      want: { "default/s": "error: no available IPs" },
    },
    {
      name: "PreferDualStack passes over a single-family pool for a dual one",
      pools: [v4Pool, pool("zz-dual", ["10.0.0.0/31", "2001:db8::/127"])],
      services: [svc("s", { policy: "PreferDualStack" })],
      want: { "default/s": "10.0.0.0,2001:db8::@zz-dual" },
    },
    {
      name: "PreferDualStack falls back to the primary family's pool",
      pools: [v4Pool, v6Pool],
      services: [svc("s", { policy: "PreferDualStack", families: ["IPv6", "IPv4"] })],
      want: { "default/s": "2001:db8:1::@v6" },
    },
    {
      name: "PreferDualStack falls back to the secondary family",
      pools: [v6Pool],
      services: [svc("s", { policy: "PreferDualStack" })],
      want: { "default/s": "2001:db8:1::@v6" },
    },
    {
      name: "explicit dual request, order kept with ipFamilies absent",
      pools: [dualPool],
      services: [svc("s", { ips: ["2001:db8::1", "10.0.0.1"], policy: "RequireDualStack" })],
      want: { "default/s": "2001:db8::1,10.0.0.1@dual" },
    },
    {
      name: "explicit same-family pair",
      pools: [dualPool],
      services: [svc("s", { ips: ["10.0.0.0", "10.0.0.1"] })],
      want: { "default/s": 'error: IPFamilyForAddresses: same address family ["10.0.0.0" "10.0.0.1"]' },
    },
  ]);
});

test("stability: previous assignments are kept while the config allows them", () => {
  const pools = [pool("p", ["10.0.0.0/29"])];
  runCases([
    {
      name: "a new service sorting first does not take a kept address",
      pools,
      services: [svc("aaa"), svc("zzz")],
      previous: stateOf({ "default/zzz": [["10.0.0.0"], "p"] }),
      want: { "default/aaa": "10.0.0.1@p", "default/zzz": "10.0.0.0@p" },
      warnings: [],
    },
    {
      name: "a kept address survives a renamed pool; the new pool name is recorded",
      pools: [pool("renamed", ["10.0.0.0/29"])],
      services: [svc("s")],
      previous: stateOf({ "default/s": [["10.0.0.5"], "p"] }),
      want: { "default/s": "10.0.0.5@renamed" },
      warnings: [],
    },
    {
      name: "two previous holders of one address: the earlier key wins, the other moves with a warning",
      pools,
      services: [svc("b"), svc("a")],
      previous: stateOf({ "default/a": [["10.0.0.3"], "p"], "default/b": [["10.0.0.3"], "p"] }),
      want: { "default/a": "10.0.0.3@p", "default/b": "10.0.0.0@p" },
      warnings: [
        'current IP for "default/b" not allowed by config, will attempt for new IP assignment: can\'t change sharing key for "default/b", address also in use by default/a',
      ],
    },
    {
      name: "an address that left the pools is reallocated with MetalLB's ClearAssignment text",
      pools,
      services: [svc("s")],
      previous: stateOf({ "default/s": [["10.9.9.9"], "p"] }),
      want: { "default/s": "10.0.0.0@p" },
      warnings: [
        'current IP for "default/s" not allowed by config, will attempt for new IP assignment: ["10.9.9.9"] is not allowed in config',
      ],
    },
    {
      name: "a pool that stopped being compatible",
      pools: [pool("p", ["10.0.0.0/29"], { namespaces: ["prod"] }), pool("q", ["10.0.1.0/29"])],
      services: [svc("s")],
      previous: stateOf({ "default/s": [["10.0.0.1"], "p"] }),
      want: { "default/s": "10.0.1.0@q" },
      warnings: [
        'current IP for "default/s" not allowed by config, will attempt for new IP assignment: pool p not compatible for ip assignment',
      ],
    },
    {
      name: "changed pool annotation moves the service without a warning",
      pools: [...pools, pool("q", ["10.0.1.0/29"], { autoAssign: false })],
      services: [svc("s", { pool: "q" })],
      previous: stateOf({ "default/s": [["10.0.0.1"], "p"] }),
      want: { "default/s": "10.0.1.0@q" },
      warnings: [],
    },
    {
      name: "a changed IP request moves the service",
      pools,
      services: [svc("s", { ips: ["10.0.0.6"] })],
      previous: stateOf({ "default/s": [["10.0.0.1"], "p"] }),
      want: { "default/s": "10.0.0.6@p" },
      warnings: [],
    },
    {
      name: "a request that still matches keeps the address even if another service wants it",
      pools,
      services: [svc("a", { ips: ["10.0.0.1"] }), svc("b", { ips: ["10.0.0.1"] })],
      previous: stateOf({ "default/b": [["10.0.0.1"], "p"] }),
      want: {
        "default/a": 'error: can\'t change sharing key for "default/a", address also in use by default/b',
        "default/b": "10.0.0.1@p",
      },
    },
    {
      name: "an invalid request keeps a still-valid address and reports the error",
      pools,
      services: [svc("s", { requestError: 'invalid metallb.io/loadBalancerIPs: "x"' })],
      previous: stateOf({ "default/s": [["10.0.0.4"], "p"] }),
      want: { "default/s": '10.0.0.4@p error: invalid metallb.io/loadBalancerIPs: "x"' },
    },
    {
      name: "a family change reallocates",
      pools: [pool("p", ["10.0.0.0/29", "2001:db8::/125"])],
      services: [svc("s", { families: ["IPv6"] })],
      previous: stateOf({ "default/s": [["10.0.0.4"], "p"] }),
      want: { "default/s": "2001:db8::@p" },
      warnings: [
        'current IP for "default/s" not allowed by config, will attempt for new IP assignment: IP family of ["10.0.0.4"] does not match the ipFamily of the service',
      ],
    },
    {
      name: "PreferDualStack kept with one family gains the other from the same pool",
      pools: [pool("other", ["2001:db8:9::/127"]), pool("p", ["10.0.0.0/29", "2001:db8::/125"])],
      services: [svc("s", { policy: "PreferDualStack" })],
      previous: stateOf({ "default/s": [["10.0.0.4"], "p"] }),
      want: { "default/s": "10.0.0.4,2001:db8::@p" },
      warnings: [],
    },
    {
      name: "garbage in the previous state is a warning, not a crash",
      pools,
      services: [svc("s"), svc("t")],
      previous: stateOf({ "default/s": [["not-an-ip"], "p"], "default/t": [[], "p"] }),
      want: { "default/s": "10.0.0.0@p", "default/t": "10.0.0.1@p" },
      warnings: [
        'current IP for "default/s" not allowed by config, will attempt for new IP assignment: invalid previous address "not-an-ip"',
        'current IP for "default/t" not allowed by config, will attempt for new IP assignment: IPFamilyForAddresses: invalid ips length 0 []',
      ],
    },
  ]);
});

test("duplicate service keys are refused, not resolved by file order", () => {
  const result = allocate(
    config([pool("p", ["10.0.0.0/30"])], [svc("s"), svc("s", { ports: ["TCP/1"] }), svc("t")]),
    undefined,
  );
  assert.deepEqual(
    result.errors.map((e) => `${e.service}: ${e.message}`),
    [
      'default/s: duplicate definition of service "default/s"',
      'default/s: duplicate definition of service "default/s"',
    ],
  );
  assert.deepEqual(result.assignments, [{ service: "default/t", ips: ["10.0.0.0"], pool: "p" }]);
});

test("determinism: shuffled services and pools give the same result", () => {
  const pools = [
    pool("a", ["10.0.0.0/28"]),
    pool("b", ["10.0.1.0/28"], { priority: 1, namespaces: ["prod"] }),
    pool("c", ["10.0.2.0/28", "2001:db8::/124"]),
    pool("d", ["10.0.3.0/28"], { priority: 1, namespaces: ["prod"] }),
  ];
  const services: Service[] = [];
  for (let i = 0; i < 40; i++) {
    services.push(
      svc(`${i % 3 === 0 ? "prod" : "default"}/s${i}`, {
        share: i % 4 === 0 ? "k" : undefined,
        ports: [`TCP/${80 + (i % 5)}`],
        policy: i % 7 === 0 ? "PreferDualStack" : "SingleStack",
        pool: i % 11 === 0 ? "c" : undefined,
      }),
    );
  }
  const reference = allocate(config(pools, services), undefined);
  let seed = 7;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const shuffle = <T>(items: T[]): T[] => {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  };
  for (let round = 0; round < 20; round++) {
    const result = allocate(config(shuffle(pools), shuffle(services)), undefined);
    assert.deepEqual(result, reference, `round ${round}`);
    assert.deepEqual(allocate(config(shuffle(pools), shuffle(services)), reference.state), reference);
  }
  assert.ok(reference.assignments.length > 30);
});

test("huge pools: a 2^32-address range and an IPv6 /64 neither hang nor overflow", () => {
  const started = Date.now();
  const result = allocate(
    config(
      [pool("all", ["0.0.0.0-255.255.255.255"]), pool("six", ["2001:db8::/64"])],
      [
        svc("a"),
        svc("b", { families: ["IPv6"] }),
        svc("d", { ips: ["255.255.255.255"] }),
        svc("e", { pool: "all", ips: ["0.0.0.0"] }),
        svc("f"),
      ],
    ),
    stateOf({ "default/a": [["200.1.2.3"], "all"] }),
  );
  assert.deepEqual(outcomes(result), {
    "default/a": "200.1.2.3@all",
    "default/b": "2001:db8::@six",
    "default/d": "255.255.255.255@all",
    "default/e": "0.0.0.0@all",
    "default/f": "0.0.0.1@all",
  });
  assert.deepEqual(result.pools, [
    { pool: "all", ipv4: { inUse: 4, total: 2 ** 32 }, ipv6: { inUse: 0, total: 0 } },
    { pool: "six", ipv4: { inUse: 0, total: 0 }, ipv6: { inUse: 1, total: 2 ** 64 } },
  ]);
  const big = allocate(
    config([pool("big8", ["10.0.0.0/8"], { avoidBuggyIPs: true })], [svc("c")]),
    undefined,
  );
  assert.deepEqual(outcomes(big), { "default/c": "10.0.0.1@big8" });
  assert.deepEqual(big.pools[0]?.ipv4, { inUse: 1, total: 2 ** 24 - 2 * 2 ** 16 });
  assert.ok(Date.now() - started < 2000, "huge pools must not be expanded");
});
