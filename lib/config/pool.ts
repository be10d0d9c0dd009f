// IPAddressPool objects (metallb.io/v1beta1): reading and the checks MetalLB makes on one pool alone
// (`addressPoolFromCR`). Checks across pools (duplicates, overlaps) and namespace resolution happen later,
// in manifests.ts, once every object is known.
import type { Node } from "yaml";
import type { Cidr } from "../ip";
import { parseAddressEntry } from "./addresses";
import { quote } from "./diagnostics";
import { readSelectorList, type Metadata, type ReadSelector } from "./fields";
import { selectorDuplicateProblems, selectorString, validateSelector } from "./selectors";
import type { SourceRef } from "./types";
import { readBool, readInt, readMap, readStringList, type ReadContext } from "./yamlread";

export interface PoolEntry {
  readonly text: string;
  readonly source: SourceRef;
  readonly cidrs: readonly Cidr[];
}

export interface RawServiceAllocation {
  readonly priority: number;
  readonly namespaces: readonly string[];
  readonly namespaceSelectors: readonly ReadSelector[];
  readonly serviceSelectors: readonly ReadSelector[];
  readonly source: SourceRef;
}

export interface RawPool {
  readonly name: string;
  readonly nameSource: SourceRef;
  readonly object: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly entries: readonly PoolEntry[];
  readonly autoAssign: boolean;
  readonly avoidBuggyIPs: boolean;
  readonly serviceAllocation?: RawServiceAllocation;
  readonly source: SourceRef;
}

const SPEC_FIELDS = ["addresses", "autoAssign", "avoidBuggyIPs", "serviceAllocation"];
const ALLOCATION_FIELDS = ["priority", "namespaces", "namespaceSelectors", "serviceSelectors"];

export function readPool(
  ctx: ReadContext,
  meta: Metadata,
  specNode: Node | null,
  source: SourceRef,
): RawPool {
  const name = meta.name;
  // MetalLB wraps every per-pool error this way (poolsFor).
  const fail = (node: Node | null | undefined, message: string): void =>
    ctx.error(node, `parsing address pool ${name}: ${message}`, source);
  if (name === "") fail(meta.nameNode, "missing pool name");

  const spec = readMap(ctx, specNode, "spec", SPEC_FIELDS) ?? new Map();
  const addressesNode = spec.get("addresses")?.value ?? null;
  const addresses = readStringList(ctx, addressesNode, "spec.addresses");
  const entries: PoolEntry[] = [];
  if (addresses && addresses.length === 0) fail(addressesNode ?? specNode, "pool has no prefixes defined");
  for (const { value, node } of addresses ?? []) {
    const parsed = parseAddressEntry(value);
    if ("error" in parsed) fail(node, `invalid CIDR ${quote(value)} in pool ${quote(name)}: ${parsed.error}`);
    else entries.push({ text: value, source: ctx.sourceOf(node), cidrs: parsed.cidrs });
  }
  const autoAssign = readBool(ctx, spec.get("autoAssign")?.value ?? null, "spec.autoAssign") ?? true;
  const avoidBuggyIPs =
    readBool(ctx, spec.get("avoidBuggyIPs")?.value ?? null, "spec.avoidBuggyIPs") ?? false;

  let serviceAllocation: RawServiceAllocation | undefined;
  const allocationField = spec.get("serviceAllocation");
  if (allocationField) {
    const node = allocationField.value;
    const fields = readMap(ctx, node, "spec.serviceAllocation", ALLOCATION_FIELDS) ?? new Map();
    const priority =
      readInt(ctx, fields.get("priority")?.value ?? null, "spec.serviceAllocation.priority") ?? 0;
    const namespaceList =
      readStringList(ctx, fields.get("namespaces")?.value ?? null, "spec.serviceAllocation.namespaces") ?? [];
    const seen = new Set<string>();
    for (const { value, node: at } of namespaceList) {
      if (seen.has(value)) fail(at, "duplicate definition in namespaces field");
      seen.add(value);
    }
    const namespaceSelectors = readSelectorList(
      ctx,
      fields.get("namespaceSelectors")?.value ?? null,
      "spec.serviceAllocation.namespaceSelectors",
    ).selectors;
    const serviceSelectors = readSelectorList(
      ctx,
      fields.get("serviceSelectors")?.value ?? null,
      "spec.serviceAllocation.serviceSelectors",
    ).selectors;
    const fieldNode = (f: string): Node | null => fields.get(f)?.value ?? node;
    for (const problem of selectorDuplicateProblems(
      namespaceSelectors.map((s) => s.selector),
      "namespaceSelectors",
    )) {
      fail(fieldNode("namespaceSelectors"), problem);
    }
    for (const problem of selectorDuplicateProblems(
      serviceSelectors.map((s) => s.selector),
      "serviceSelectors",
    )) {
      fail(fieldNode("serviceSelectors"), problem);
    }
    for (const { selector, node: at } of namespaceSelectors) {
      for (const problem of validateSelector(selector)) {
        fail(
          at,
          `invalid namespace label selector ${quote(selectorString(selector))} in ip pool ${name}: ${problem}`,
        );
      }
    }
    for (const { selector, node: at } of serviceSelectors) {
      for (const problem of validateSelector(selector)) {
        fail(
          at,
          `invalid service label selector ${quote(selectorString(selector))} in ip pool ${name}: ${problem}`,
        );
      }
    }
    serviceAllocation = {
      priority,
      namespaces: [...seen].sort(),
      namespaceSelectors,
      serviceSelectors,
      source: ctx.sourceOf(node, ctx.sourceOf(allocationField.keyNode)),
    };
  }
  return {
    name,
    nameSource: ctx.sourceOf(meta.nameNode, source),
    object: ctx.object ?? `IPAddressPool/${name}`,
    labels: meta.labels,
    entries,
    autoAssign,
    avoidBuggyIPs,
    ...(serviceAllocation ? { serviceAllocation } : {}),
    source,
  };
}
