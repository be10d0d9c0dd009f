// Migrating from MetalLB keeps IPs (issue 16, point 2). `kubectl get svc -o yaml` output carries each
// Service's current IP in status.loadBalancer.ingress and its family in spec.clusterIPs; MetalLB's controller
// treats the first as the current allocation and derives the family from the second (controller/service.go,
// internal/ipfamily ForService; the "wrong ip-family" cases of TestControllerMutation).
import { test } from "node:test";
import assert from "node:assert/strict";
import { allocate } from "../../lib/alloc/allocator";
import type { AllocationState } from "../../lib/alloc/types";
import { formatDiagnostic } from "../../lib/config/diagnostics";
import { parseManifests } from "../../lib/config/manifests";

const POOLS = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec:
  addresses: [198.51.100.50-198.51.100.60, "2001:db8:100::/124"]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
spec: {ipAddressPools: [lan]}
`;

/** A Service the way kubectl prints it (clusterIP(s), status), minus what vipd does not read. */
function kubectlService(
  name: string,
  opts: {
    clusterIPs?: string[];
    ingress?: string[];
    loadBalancerIP?: string;
    annotationIPs?: string;
    ipFamilies?: string[];
  },
): string {
  const lines = [
    "apiVersion: v1",
    "kind: Service",
    "metadata:",
    `  name: ${name}`,
    "  namespace: default",
    ...(opts.annotationIPs
      ? ["  annotations:", `    metallb.io/loadBalancerIPs: "${opts.annotationIPs}"`]
      : []),
    "spec:",
    "  type: LoadBalancer",
    ...(opts.clusterIPs
      ? [
          `  clusterIP: "${opts.clusterIPs[0]}"`,
          `  clusterIPs: [${opts.clusterIPs.map((ip) => `"${ip}"`).join(", ")}]`,
        ]
      : []),
    ...(opts.ipFamilies
      ? [`  ipFamilies: [${opts.ipFamilies.join(", ")}]`, "  ipFamilyPolicy: SingleStack"]
      : []),
    ...(opts.loadBalancerIP ? [`  loadBalancerIP: "${opts.loadBalancerIP}"`] : []),
    "  ports: [{name: http, port: 80, protocol: TCP, targetPort: 8080, nodePort: 31234}]",
    "  sessionAffinity: None",
    "status:",
    "  loadBalancer:",
    ...(opts.ingress
      ? ["    ingress:", ...opts.ingress.map((ip) => `    - ip: "${ip}"\n      ipMode: VIP`)]
      : ["    {}"]),
  ];
  return lines.join("\n") + "\n";
}

function allocateFrom(services: string[], previous?: AllocationState) {
  const load = parseManifests([{ path: "cluster.yaml", text: [POOLS, ...services].join("---\n") }]);
  const errors = load.diagnostics.filter((d) => d.severity === "error").map(formatDiagnostic);
  assert.deepEqual(errors, [], "the pasted manifests load");
  assert.ok(load.config);
  const result = allocate(load.config, previous);
  const ips = Object.fromEntries(result.assignments.map((a) => [a.service, a.ips.join(",")]));
  const failed = Object.fromEntries(result.errors.map((e) => [e.service, e.message]));
  return { ips, failed, warnings: result.warnings.map(formatDiagnostic) };
}

test("status.loadBalancer.ingress is the current allocation: a migrated Service keeps .55, not the first free .50", () => {
  const { ips, failed } = allocateFrom([
    kubectlService("web", { clusterIPs: ["10.96.0.10"], ipFamilies: ["IPv4"], ingress: ["198.51.100.55"] }),
    kubectlService("new", { clusterIPs: ["10.96.0.11"], ipFamilies: ["IPv4"] }),
  ]);
  assert.deepEqual(failed, {});
  assert.deepEqual(ips, { "default/new": "198.51.100.50", "default/web": "198.51.100.55" });
});

test("the pasted status wins over an older allocation in stateDir", () => {
  const previous: AllocationState = {
    version: 1,
    assignments: { "default/web": { ips: ["198.51.100.50"], pool: "lan" } },
  };
  const { ips } = allocateFrom(
    [kubectlService("web", { clusterIPs: ["10.96.0.10"], ingress: ["198.51.100.57"] })],
    previous,
  );
  assert.deepEqual(ips, { "default/web": "198.51.100.57" });
});

test("a status IP the config no longer allows is reallocated with MetalLB's warning", () => {
  const { ips, warnings } = allocateFrom([
    kubectlService("web", { clusterIPs: ["10.96.0.10"], ingress: ["203.0.113.9"] }),
  ]);
  assert.deepEqual(ips, { "default/web": "198.51.100.50" });
  assert.match(
    warnings.join("\n"),
    /current IP for "default\/web" not allowed by config, will attempt for new IP assignment/,
  );
});

test("MetalLB's wrong ip-family cases: the family comes from spec.clusterIPs when ipFamilies is absent", () => {
  const cases: { desc: string; svc: string; ip?: string; error?: RegExp }[] = [
    {
      desc: "request IP from wrong ip-family (ipv4)",
      svc: kubectlService("a", { loadBalancerIP: "198.51.100.51", clusterIPs: ["2001:db8::1"] }),
      error:
        /requested loadBalancer IP\(s\) \["198\.51\.100\.51"\] does not match the ipFamily of the service/,
    },
    {
      desc: "request IP from wrong ip-family (ipv4) via annotation",
      svc: kubectlService("a", { annotationIPs: "198.51.100.51", clusterIPs: ["2001:db8::1"] }),
      error: /does not match the ipFamily of the service/,
    },
    {
      desc: "request IP from wrong ip-family (ipv6)",
      svc: kubectlService("a", { loadBalancerIP: "2001:db8:100::5", clusterIPs: ["10.96.0.4"] }),
      error:
        /requested loadBalancer IP\(s\) \["2001:db8:100::5"\] does not match the ipFamily of the service/,
    },
    {
      desc: "IP from wrong ip-family (ipv6) assigned",
      svc: kubectlService("a", { clusterIPs: ["10.96.0.4"], ingress: ["2001:db8:100::3"] }),
      ip: "198.51.100.50",
    },
    {
      desc: "IP from wrong ip-family (ipv4) assigned",
      svc: kubectlService("a", { clusterIPs: ["2001:db8::1"], ingress: ["198.51.100.55"] }),
      ip: "2001:db8:100::",
    },
    {
      desc: "an IPv6 ClusterIP alone gets an IPv6 address",
      svc: kubectlService("a", { clusterIPs: ["2001:db8::1"] }),
      ip: "2001:db8:100::",
    },
    {
      desc: "dual ClusterIPs get one address of each family, primary first",
      svc: kubectlService("a", { clusterIPs: ["2001:db8::1", "10.96.0.4"] }),
      ip: "2001:db8:100::,198.51.100.50",
    },
  ];
  for (const c of cases) {
    const { ips, failed } = allocateFrom([c.svc]);
    if (c.error) {
      assert.match(failed["default/a"] ?? "", c.error, c.desc);
      assert.equal(ips["default/a"], undefined, c.desc);
    } else assert.equal(ips["default/a"], c.ip, c.desc);
  }
});

test("manifests without status or clusterIPs keep the config digest they always had", () => {
  const plain =
    "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {type: LoadBalancer, ports: [{port: 80}]}\n";
  const withEmptyStatus = plain + "status: {loadBalancer: {}}\n";
  const a = parseManifests([{ path: "x.yaml", text: POOLS + "---\n" + plain }]);
  const b = parseManifests([{ path: "x.yaml", text: POOLS + "---\n" + withEmptyStatus }]);
  assert.equal(a.digest, b.digest);
});
