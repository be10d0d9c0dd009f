// Property tests: random add/remove sequences of services, each result's state fed back as `previous`.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { allocate, allocatorRuns } from "../../lib/alloc/allocator";
import type { AllocationResult, AllocationState } from "../../lib/alloc/types";
import type { IpFamilyPolicy, Service } from "../../lib/config/types";
import { config, pool, svc } from "./alloc-builders";

const pools = [
  pool("a", ["10.0.0.0/29"]),
  pool("b", ["10.0.1.0/30", "2001:db8::/126"]),
  pool("prod", ["10.0.2.0/30"], { namespaces: ["prod"], priority: 1 }),
  pool("manual", ["10.0.3.0/30"], { autoAssign: false }),
  pool("bug", ["10.0.4.254-10.0.5.1"], { avoidBuggyIPs: true }),
];
const requestable = ["10.0.0.1", "10.0.1.2", "10.0.2.1", "10.0.3.3", "2001:db8::1", "10.0.5.0", "192.0.2.1"];

const serviceSpec = fc.record({
  prod: fc.boolean(),
  share: fc.constantFrom(undefined, "k1", "k2"),
  ports: fc.subarray(["TCP/80", "TCP/53", "UDP/53"]),
  policy: fc.constantFrom<IpFamilyPolicy>(
    "SingleStack",
    "SingleStack",
    "PreferDualStack",
    "RequireDualStack",
  ),
  ipv6: fc.boolean(),
  pool: fc.constantFrom(undefined, undefined, undefined, "manual", "b", "missing"),
  ip: fc.constantFrom(undefined, undefined, undefined, ...requestable),
  local: fc.boolean(),
});
type ServiceSpec = typeof serviceSpec extends fc.Arbitrary<infer T> ? T : never;

function build(index: number, spec: ServiceSpec): Service {
  return svc(`${spec.prod ? "prod" : "default"}/s${index}`, {
    share: spec.share,
    ports: spec.ports,
    policy: spec.policy,
    families: spec.ipv6 ? ["IPv6"] : [],
    pool: spec.pool,
    ips: spec.ip ? [spec.ip] : [],
    localSelector: spec.local ? { app: "x" } : undefined,
  });
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Every address with several holders is shared legally: same non-empty key, same backend, no port clash. */
function assertSharingLegal(result: AllocationResult, services: readonly Service[]): void {
  const byKey = new Map(services.map((s) => [s.key, s]));
  const holders = new Map<string, Service[]>();
  for (const a of result.assignments) {
    for (const ip of a.ips) holders.set(ip, [...(holders.get(ip) ?? []), byKey.get(a.service) as Service]);
  }
  for (const [ip, list] of holders) {
    if (list.length < 2) continue;
    const [first] = list as [Service];
    const seen = new Set<string>();
    for (const s of list) {
      assert.ok(s.sharingKey !== undefined && s.sharingKey === first.sharingKey, `${ip}: sharing key`);
      assert.equal(s.backendKey, first.backendKey, `${ip}: backend key`);
      for (const p of s.ports) {
        const port = `${p.protocol}/${p.port}`;
        assert.ok(!seen.has(port), `${ip}: port ${port} used twice`);
        seen.add(port);
      }
    }
  }
}

test("random add/remove sequences never move a surviving service's IP", () => {
  fc.assert(
    fc.property(
      fc.array(serviceSpec, { minLength: 1, maxLength: 24 }),
      fc.array(fc.record({ index: fc.nat(), seed: fc.nat() }), { minLength: 1, maxLength: 40 }),
      (specs, steps) => {
        const universe = specs.map((spec, i) => build(i, spec));
        const present = new Set<number>();
        let previous: AllocationState | undefined;
        for (const step of steps) {
          const toggled = step.index % universe.length;
          if (present.has(toggled)) present.delete(toggled);
          else present.add(toggled);
          const services = [...present].map((i) => universe[i] as Service);
          const result = allocate(
            config(shuffled(pools, step.seed), shuffled(services, step.seed + 1)),
            previous,
          );

          const current = new Map(result.assignments.map((a) => [a.service, a]));
          for (const [key, before] of Object.entries(previous?.assignments ?? {})) {
            if (!services.some((s) => s.key === key)) continue;
            const after = current.get(key);
            assert.ok(after, `${key} lost its IP ${before.ips.join(",")}`);
            for (const ip of before.ips)
              assert.ok(after.ips.includes(ip), `${key} moved from ${ip} to ${after.ips.join(",")}`);
            assert.equal(after.pool, before.pool);
          }
          for (const a of result.assignments) assert.ok(services.some((s) => s.key === a.service));
          assertSharingLegal(result, services);
          assert.deepEqual(
            result.warnings,
            [],
            "nothing previous can become invalid when only membership changes",
          );
          // Determinism: another input order gives exactly the same answer.
          assert.deepEqual(allocate(config([...pools].reverse(), [...services].reverse()), previous), result);
          previous = result.state;
        }
      },
    ),
    { numRuns: 300 },
  );
});

test("fresh allocations ignore input order and give every service an IP or an error", () => {
  fc.assert(
    fc.property(fc.array(serviceSpec, { minLength: 1, maxLength: 24 }), fc.nat(), (specs, seed) => {
      const services = specs.map((spec, i) => build(i, spec));
      const a = allocate(config(pools, services), undefined);
      const b = allocate(config(shuffled(pools, seed), shuffled(services, seed + 7)), undefined);
      assert.deepEqual(b, a);
      assertSharingLegal(a, services);
      const answered = new Set([...a.assignments.map((x) => x.service), ...a.errors.map((e) => e.service)]);
      for (const s of services) assert.ok(answered.has(s.key), `${s.key} got neither an IP nor an error`);
    }),
    { numRuns: 300 },
  );
});

test("a reload that resumes the previous run allocates exactly as a full run over the same state", () => {
  // allocate() resumes the run that produced `previous` when only services were added or removed
  // (allocator.ts, keptRuns); a copy of the same state (as read from disk) always runs in full.
  const before = { ...allocatorRuns };
  fc.assert(
    fc.property(
      fc.array(serviceSpec, { minLength: 1, maxLength: 12 }),
      fc.array(fc.record({ index: fc.nat(), seed: fc.nat(), edit: fc.boolean() }), {
        minLength: 1,
        maxLength: 30,
      }),
      (specs, steps) => {
        // Mostly plain services (the fast path's condition: one family, no sharing, no error), some of
        // every other kind.
        const plain = (spec: ServiceSpec): ServiceSpec => ({
          ...spec,
          share: undefined,
          policy: "SingleStack",
          pool: spec.pool === "missing" ? undefined : spec.pool,
          ip: undefined,
        });
        const universe = specs.map((spec, i) => build(i, i % 4 === 3 ? spec : plain(spec)));
        const present = new Map<number, Service>();
        let previous: AllocationState | undefined;
        for (const step of steps) {
          const i = step.index % universe.length;
          const service = universe[i] as Service;
          // An edit replaces the object (as a re-parsed document does); else the service comes or goes.
          if (step.edit && present.has(i)) present.set(i, { ...service });
          else if (present.has(i)) present.delete(i);
          else present.set(i, service);
          const cfg = config(shuffled(pools, step.seed), shuffled([...present.values()], step.seed + 1));
          const result = allocate(cfg, previous);
          const full = allocate(cfg, previous && (JSON.parse(JSON.stringify(previous)) as AllocationState));
          assert.deepEqual(result, full);
          previous = result.state;
        }
      },
    ),
    { numRuns: 300 },
  );
  assert.ok(
    allocatorRuns.resumed - before.resumed > 300,
    `resumed ${allocatorRuns.resumed - before.resumed}`,
  );
});
