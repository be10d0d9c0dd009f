// L2Advertisement objects (metallb.io/v1beta1): reading and MetalLB's per-object checks
// (`l2AdvertisementFromCR`). Pool resolution needs every pool, so manifests.ts does it afterwards.
import type { Node } from "yaml";
import { quote } from "./diagnostics";
import { readSelector, readSelectorList, type Metadata, type ReadSelector } from "./fields";
import { selectorDuplicateProblems, selectorString, validateSelector } from "./selectors";
import type { PreferredNodeSelector, SourceRef } from "./types";

/** `vipd.io/failback: "false"` makes the IPs this advertisement covers non-revertive. */
export const FAILBACK_ANNOTATION = "vipd.io/failback";
import { readInt, readList, readMap, readStringList, type ReadContext } from "./yamlread";

export interface RawAdvertisement {
  readonly name: string;
  readonly nameSource: SourceRef;
  readonly object: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly poolNames: readonly { value: string; source: SourceRef }[];
  readonly poolSelectors: readonly ReadSelector[];
  /** True when `ipAddressPools` or `ipAddressPoolSelectors` has an entry (otherwise: all pools). */
  readonly restrictsPools: boolean;
  readonly nodeSelectors: readonly ReadSelector[];
  readonly interfaces: readonly string[];
  readonly serviceSelectors: readonly ReadSelector[];
  readonly preferredNodeSelectors: readonly PreferredNodeSelector[];
  readonly source: SourceRef;
}

const SPEC_FIELDS = [
  "ipAddressPools",
  "ipAddressPoolSelectors",
  "nodeSelectors",
  "interfaces",
  "serviceSelectors",
  "preferredNodeSelectors",
];

export function readAdvertisement(
  ctx: ReadContext,
  meta: Metadata,
  specNode: Node | null,
  source: SourceRef,
): RawAdvertisement {
  const name = meta.name;
  if (name === "") ctx.error(meta.nameNode, "metadata.name is required", source);
  const spec = readMap(ctx, specNode, "spec", SPEC_FIELDS) ?? new Map();
  const at = (field: string): Node | null => spec.get(field)?.value ?? specNode;

  const poolNames =
    readStringList(ctx, spec.get("ipAddressPools")?.value ?? null, "spec.ipAddressPools") ?? [];
  const seenPools = new Set<string>();
  for (const { value, node } of poolNames) {
    if (seenPools.has(value)) ctx.error(node, `duplicate definition of ipAddressPools ${quote(value)}`);
    seenPools.add(value);
  }
  const poolSelectors = readSelectorList(
    ctx,
    spec.get("ipAddressPoolSelectors")?.value ?? null,
    "spec.ipAddressPoolSelectors",
  );
  const nodeSelectors = readSelectorList(
    ctx,
    spec.get("nodeSelectors")?.value ?? null,
    "spec.nodeSelectors",
  ).selectors;
  const serviceSelectors = readSelectorList(
    ctx,
    spec.get("serviceSelectors")?.value ?? null,
    "spec.serviceSelectors",
  ).selectors;
  const fields: [string, readonly ReadSelector[]][] = [
    ["ipAddressPoolSelectors", poolSelectors.selectors],
    ["nodeSelectors", nodeSelectors],
    ["serviceSelectors", serviceSelectors],
  ];
  for (const [field, selectors] of fields) {
    for (const problem of selectorDuplicateProblems(
      selectors.map((s) => s.selector),
      field,
    )) {
      ctx.error(at(field), problem);
    }
  }
  for (const { selector, node } of poolSelectors.selectors) {
    for (const problem of validateSelector(selector)) {
      ctx.error(node, `invalid label selector ${quote(selectorString(selector))}: ${problem}`);
    }
  }
  for (const { selector, node } of nodeSelectors) {
    for (const problem of validateSelector(selector)) {
      ctx.error(node, `failed to parse node selector for ${name}: ${problem}`);
    }
  }
  for (const { selector, node } of serviceSelectors) {
    for (const problem of validateSelector(selector)) {
      ctx.error(
        node,
        `failed to parse service selector for ${name}: invalid service selector ${quote(selectorString(selector))}: ${problem}`,
      );
    }
  }

  const interfaceList = readStringList(ctx, spec.get("interfaces")?.value ?? null, "spec.interfaces") ?? [];
  for (const { value, node } of interfaceList) {
    if (value === "" || value.length > 15 || /[\s/]/.test(value)) {
      ctx.error(node, `spec.interfaces: ${quote(value)} is not a valid Linux interface name`);
    }
  }

  const preferredNodeSelectors: PreferredNodeSelector[] = [];
  const preferredItems =
    readList(ctx, spec.get("preferredNodeSelectors")?.value ?? null, "spec.preferredNodeSelectors") ?? [];
  preferredItems.forEach((item, i) => {
    const path = `spec.preferredNodeSelectors[${i}]`;
    const fieldsOfItem = readMap(ctx, item, path, ["weight", "preference"]);
    if (!fieldsOfItem) return;
    const weightNode = fieldsOfItem.get("weight")?.value ?? null;
    const weight = readInt(ctx, weightNode, `${path}.weight`, 1, 100);
    if (weightNode === null) ctx.error(item ?? at("preferredNodeSelectors"), `${path}.weight is required`);
    const preferenceNode = fieldsOfItem.get("preference")?.value ?? null;
    if (preferenceNode === null)
      ctx.error(item ?? at("preferredNodeSelectors"), `${path}.preference is required`);
    const preference = readSelector(ctx, preferenceNode, `${path}.preference`);
    if (preference && preferenceNode !== null) {
      for (const problem of validateSelector(preference)) {
        ctx.error(preferenceNode, `failed to parse preferred node selectors for ${name}: ${problem}`);
      }
    }
    if (weight !== undefined && preference && preferenceNode !== null)
      preferredNodeSelectors.push({ weight, preference });
  });

  const failback = meta.annotations[FAILBACK_ANNOTATION];
  if (failback !== undefined && failback !== "true" && failback !== "false") {
    ctx.error(
      meta.annotationNodes.get(FAILBACK_ANNOTATION) ?? null,
      `annotation ${FAILBACK_ANNOTATION}: expected "true" or "false", got ${quote(failback)}`,
      source,
    );
  }

  return {
    name,
    nameSource: ctx.sourceOf(meta.nameNode, source),
    object: ctx.object ?? `L2Advertisement/${name}`,
    annotations: meta.annotations,
    poolNames: poolNames.map(({ value, node }) => ({ value, source: ctx.sourceOf(node) })),
    poolSelectors: poolSelectors.selectors,
    restrictsPools: poolNames.length > 0 || poolSelectors.selectors.length > 0 || !poolSelectors.ok,
    nodeSelectors,
    interfaces: interfaceList.map((i) => i.value),
    serviceSelectors,
    preferredNodeSelectors,
    source,
  };
}
