// allocate() at scale: 10,000 services over 100 pools, fresh and with the previous state fed back
// (the daemon's steady state), plus a churn step and a pool of 2^32 addresses.
// Run: node dist/bench/alloc.js   Writes bench/results/alloc.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { allocate } from "../lib/alloc/allocator";
import type { AllocationState } from "../lib/alloc/types";
import type { AddressPool, ManifestConfig, Service } from "../lib/config/types";
import { parseCidr, parseIp, summarizeRange, type Cidr } from "../lib/ip";

const SERVICES = 10_000;
const POOLS = 100;
const RUNS = 7;

function cidrs(text: string): Cidr[] {
  const [first, last] = text.split("-");
  const start = parseIp(first ?? "");
  const end = last === undefined ? undefined : parseIp(last);
  const single = parseCidr(text);
  if (single) return [single];
  if (!start || !end) throw new Error(`bad address text ${text}`);
  return summarizeRange(start, end);
}

function makePool(i: number): AddressPool {
  // Every tenth pool is pinned to a namespace with a priority, every fifth also has IPv6, every
  // seventh avoids buggy IPs: a mix that exercises every branch of pool choice.
  const addresses = [`10.${Math.floor(i / 100)}.${i % 100}.0/24`];
  if (i % 5 === 0) addresses.push(`2001:db8:${i.toString(16)}::/120`);
  return {
    name: `pool-${String(i).padStart(3, "0")}`,
    labels: {},
    cidrs: addresses.flatMap(cidrs),
    autoAssign: i % 13 !== 0,
    avoidBuggyIPs: i % 7 === 0,
    serviceAllocation:
      i % 10 === 0
        ? { priority: (i / 10) % 3, namespaces: [`ns${i % 20}`], serviceSelectors: [] }
        : undefined,
    source: { file: "bench.yaml", line: 1, column: 1 },
  };
}

function makeService(i: number): Service {
  const namespace = `ns${i % 20}`;
  const name = `svc-${i}`;
  const kind = i % 20;
  return {
    namespace,
    name,
    key: `${namespace}/${name}`,
    labels: { app: `app${i % 50}` },
    annotations: {},
    ports: [{ protocol: i % 2 === 0 ? "TCP" : "UDP", port: 53 + (i % 3) }],
    // 5%: an explicit address in the never-auto-assigned pools (autoAssign off every 13th pool).
    requestedIPs: kind === 1 ? [`10.0.${13 * (1 + (i % 7))}.${i % 250}`] : [],
    addressPool: kind === 2 ? `pool-${String(13 * (1 + (i % 7))).padStart(3, "0")}` : undefined,
    // 10%: pairs sharing an address under one key.
    sharingKey: kind === 3 || kind === 4 ? `share-${Math.floor(i / 20)}` : undefined,
    backendKey: "",
    ipFamilies: [],
    ipFamilyPolicy: kind === 5 ? "PreferDualStack" : "SingleStack",
    externalTrafficPolicy: "Cluster",
    selector: {},
    source: { file: "bench.yaml", line: 1, column: 1 },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function time(fn: () => void): number {
  const runs: number[] = [];
  fn(); // warm-up: JIT and lazy initialisation are not what this measures
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    fn();
    runs.push(performance.now() - started);
  }
  return Math.round(median(runs) * 10) / 10;
}

const pools = Array.from({ length: POOLS }, (_, i) => makePool(i));
const services = Array.from({ length: SERVICES }, (_, i) => makeService(i));
const config: ManifestConfig = { pools, advertisements: [], services, namespaces: {} };

const fresh = allocate(config, undefined);
const previous: AllocationState = fresh.state;
// Churn: drop every tenth service and add 1,000 new ones whose keys sort in between the survivors.
const churned: ManifestConfig = {
  ...config,
  services: [
    ...services.filter((_, i) => i % 10 !== 0),
    ...Array.from({ length: 1000 }, (_, i) => makeService(SERVICES + i)),
  ],
};
const hugeConfig: ManifestConfig = {
  pools: [{ ...makePool(1), name: "everything", cidrs: cidrs("0.0.0.0-255.255.255.255") }],
  advertisements: [],
  services: services.filter((s) => s.requestedIPs.length === 0 && s.addressPool === undefined),
  namespaces: {},
};

const churnResult = allocate(churned, previous);
const survivorsMoved = churnResult.assignments.filter((a) => {
  const before = previous.assignments[a.service];
  return before !== undefined && before.ips.some((ip) => !a.ips.includes(ip));
}).length;

const result = {
  benchmark: "alloc",
  services: SERVICES,
  pools: POOLS,
  runs: RUNS,
  node: process.version,
  assigned: fresh.assignments.length,
  errors: fresh.errors.length,
  freshMs: time(() => allocate(config, undefined)),
  withPreviousMs: time(() => allocate(config, previous)),
  churnWithPreviousMs: time(() => allocate(churned, previous)),
  churnSurvivorsMoved: survivorsMoved,
  hugeRangeServices: hugeConfig.services.length,
  hugeRangeFreshMs: time(() => allocate(hugeConfig, undefined)),
};

const outDir = join(__dirname, "..", "..", "bench", "results");
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, "alloc.json"), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
