// Readers for the pieces every Kubernetes object shares: metadata and label selectors.
import type { Node } from "yaml";
import { labelKeyProblem, labelValueProblem, OPERATORS } from "./selectors";
import type { LabelRequirement, LabelSelector, Labels, SelectorOperator } from "./types";
import {
  join,
  readList,
  readMap,
  readString,
  readStringList,
  readStringMap,
  type ReadContext,
} from "./yamlread";

/** Fields `kubectl get -o yaml` emits in metadata; accepted so its output loads as it is, but not used. */
const METADATA_FIELDS = [
  "name",
  "namespace",
  "labels",
  "annotations",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "managedFields",
  "selfLink",
  "ownerReferences",
  "finalizers",
  "generateName",
];

export interface Metadata {
  readonly name: string;
  readonly nameNode: Node | null;
  readonly namespace?: string;
  readonly labels: Labels;
  readonly annotations: Labels;
  /** Annotation key nodes, for warnings that point at the annotation. */
  readonly annotationNodes: ReadonlyMap<string, Node>;
}

export function readMetadata(ctx: ReadContext, node: Node | null): Metadata {
  const fields = readMap(ctx, node, "metadata", METADATA_FIELDS) ?? new Map();
  const nameNode = fields.get("name")?.value ?? null;
  const name = readString(ctx, nameNode, "metadata.name") ?? "";
  const namespaceNode = fields.get("namespace")?.value ?? null;
  const namespace = readString(ctx, namespaceNode, "metadata.namespace");
  const labelsNode = fields.get("labels")?.value ?? null;
  const labels = readStringMap(ctx, labelsNode, "metadata.labels") ?? {};
  checkLabels(ctx, labelsNode, labels, "metadata.labels");
  const annotationsNode = fields.get("annotations")?.value ?? null;
  const annotations = readStringMap(ctx, annotationsNode, "metadata.annotations") ?? {};
  const annotationNodes = new Map<string, Node>();
  for (const field of (readMapQuiet(ctx, annotationsNode) ?? new Map()).values()) {
    annotationNodes.set(field.key, field.keyNode);
  }
  return {
    name,
    nameNode,
    ...(namespace !== undefined && namespace !== "" ? { namespace } : {}),
    labels,
    annotations,
    annotationNodes,
  };
}

/** Re-reads a mapping already validated elsewhere, without reporting its problems twice. */
function readMapQuiet(
  ctx: ReadContext,
  node: Node | null,
): ReadonlyMap<string, { key: string; keyNode: Node }> | undefined {
  const saved = ctx.diagnostics.length;
  const out = readMap(ctx, node, "", "any");
  ctx.diagnostics.length = saved;
  return out;
}

/** Kubernetes' label syntax rules, reported at the label. */
export function checkLabels(ctx: ReadContext, node: Node | null, labels: Labels, path: string): void {
  const nodes = readMapQuiet(ctx, node);
  for (const [key, value] of Object.entries(labels)) {
    const at = nodes?.get(key)?.keyNode ?? node;
    const problem = labelKeyProblem(key) ?? labelValueProblem(value);
    if (problem) ctx.error(at, `${path}: ${problem}`);
  }
}

/** A LabelSelector's structure (types, unknown fields); its Kubernetes rules are checked by the caller. */
export function readSelector(ctx: ReadContext, node: Node | null, path: string): LabelSelector | undefined {
  const fields = readMap(ctx, node, path, ["matchLabels", "matchExpressions"]);
  if (!fields) return undefined;
  let ok = true;
  const matchLabels = readStringMap(ctx, fields.get("matchLabels")?.value ?? null, join(path, "matchLabels"));
  if (!matchLabels) ok = false;
  const expressionsPath = join(path, "matchExpressions");
  const items = readList(ctx, fields.get("matchExpressions")?.value ?? null, expressionsPath);
  if (!items) ok = false;
  const matchExpressions: LabelRequirement[] = [];
  (items ?? []).forEach((item, i) => {
    const itemPath = `${expressionsPath}[${i}]`;
    const expression = readMap(ctx, item, itemPath, ["key", "operator", "values"]);
    if (!expression || item === null) {
      if (item === null)
        ctx.error(
          item,
          `${itemPath}: expected a mapping, got null`,
          ctx.sourceOf(fields.get("matchExpressions")?.value),
        );
      ok = false;
      return;
    }
    const key = readString(ctx, expression.get("key")?.value ?? null, `${itemPath}.key`);
    const operatorNode = expression.get("operator")?.value ?? null;
    const operator = readString(ctx, operatorNode, `${itemPath}.operator`);
    const values = readStringList(ctx, expression.get("values")?.value ?? null, `${itemPath}.values`);
    if (key === undefined) {
      ctx.error(item, `${itemPath}.key is required`);
      ok = false;
    }
    if (operator === undefined) {
      if (operatorNode === null) ctx.error(item, `${itemPath}.operator is required`);
      ok = false;
    }
    if (!values) ok = false;
    if (key !== undefined && operator !== undefined && values) {
      matchExpressions.push({
        key,
        operator: operator as SelectorOperator,
        values: values.map((v) => v.value),
      });
    }
  });
  return ok ? { matchLabels: matchLabels ?? {}, matchExpressions } : undefined;
}

export interface ReadSelector {
  readonly selector: LabelSelector;
  readonly node: Node | null;
}

/** A list of selectors; structurally broken entries are reported and left out. `ok` is false if any was. */
export function readSelectorList(
  ctx: ReadContext,
  node: Node | null,
  path: string,
): { selectors: ReadSelector[]; ok: boolean } {
  const items = readList(ctx, node, path);
  if (!items) return { selectors: [], ok: false };
  let ok = true;
  const selectors: ReadSelector[] = [];
  items.forEach((item, i) => {
    const selector = readSelector(ctx, item, `${path}[${i}]`);
    if (selector) selectors.push({ selector, node: item ?? node });
    else ok = false;
  });
  return { selectors, ok };
}

export const isOperator = (s: string): s is SelectorOperator => (OPERATORS as readonly string[]).includes(s);
