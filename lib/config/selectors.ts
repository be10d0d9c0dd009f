// Kubernetes label selectors (metav1.LabelSelector): validation with Kubernetes' rules, matching, and a
// canonical string (Kubernetes' own `a=b,c in (x,y),!d` form) used both in messages and to spot duplicates.
import type { LabelRequirement, LabelSelector, Labels, SelectorOperator } from "./types";

export const OPERATORS: readonly SelectorOperator[] = ["In", "NotIn", "Exists", "DoesNotExist"];

/** The empty selector: matches every label set (Kubernetes' `labels.Everything()`). */
export const EVERYTHING: LabelSelector = Object.freeze({
  matchLabels: Object.freeze({}),
  matchExpressions: Object.freeze([]) as readonly LabelRequirement[],
});

const NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Kubernetes' qualified-name rule for label keys (`prefix/name`, name at most 63 characters). */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `invalid label key ${JSON.stringify(key)}: prefix must be a DNS subdomain`;
  }
  if (name.length === 0 || name.length > 63 || !NAME_PART.test(name)) {
    return `invalid label key ${JSON.stringify(key)}: name part must be 1-63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric`;
  }
  return undefined;
}

/** Kubernetes' label value rule: empty, or at most 63 characters of `[A-Za-z0-9-_.]`, alphanumeric at both ends. */
export function labelValueProblem(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > 63 || !NAME_PART.test(value)) {
    return `invalid label value ${JSON.stringify(value)}: must be at most 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric`;
  }
  return undefined;
}

/** Problems with one selector under Kubernetes' LabelSelectorAsSelector rules; empty when valid. */
export function validateSelector(selector: LabelSelector): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels)) {
    const keyProblem = labelKeyProblem(key);
    if (keyProblem) problems.push(keyProblem);
    const valueProblem = labelValueProblem(value);
    if (valueProblem) problems.push(valueProblem);
  }
  for (const requirement of selector.matchExpressions) {
    const keyProblem = labelKeyProblem(requirement.key);
    if (keyProblem) problems.push(keyProblem);
    if (!OPERATORS.includes(requirement.operator)) {
      problems.push(`${JSON.stringify(requirement.operator)} is not a valid label selector operator`);
      continue;
    }
    const needsValues = requirement.operator === "In" || requirement.operator === "NotIn";
    if (needsValues && requirement.values.length === 0) {
      problems.push(
        `values: for 'in', 'notin' operators, values set can't be empty (key ${JSON.stringify(requirement.key)})`,
      );
    }
    if (!needsValues && requirement.values.length > 0) {
      problems.push(
        `values: values set must be empty for exists and does not exist (key ${JSON.stringify(requirement.key)})`,
      );
    }
    for (const value of requirement.values) {
      const valueProblem = labelValueProblem(value);
      if (valueProblem) problems.push(valueProblem);
    }
  }
  return problems;
}

/** Kubernetes' textual form of one requirement, values sorted: `env in (a,b)`, `!gone`. */
export function requirementString(r: LabelRequirement): string {
  const values = [...r.values].sort().join(",");
  switch (r.operator) {
    case "In":
      return `${r.key} in (${values})`;
    case "NotIn":
      return `${r.key} notin (${values})`;
    case "Exists":
      return r.key;
    case "DoesNotExist":
      return `!${r.key}`;
  }
}

/**
 * Canonical text of a selector: requirements sorted, matchLabels as `k=v`. Two selectors with the same
 * text select the same objects, so this is also the duplicate-detection key. `""` is the empty selector.
 */
export function selectorString(selector: LabelSelector): string {
  const parts = [
    ...Object.entries(selector.matchLabels).map(([k, v]) => `${k}=${v}`),
    ...selector.matchExpressions.map(requirementString),
  ];
  return parts.sort().join(",");
}

export function matchesRequirement(r: LabelRequirement, labels: Labels): boolean {
  const present = Object.prototype.hasOwnProperty.call(labels, r.key);
  switch (r.operator) {
    case "In":
      return present && r.values.includes(labels[r.key]);
    case "NotIn":
      return !present || !r.values.includes(labels[r.key]);
    case "Exists":
      return present;
    case "DoesNotExist":
      return !present;
  }
}

/** Every matchLabels pair and every expression must hold (AND). The empty selector matches everything. */
export function matchesSelector(selector: LabelSelector, labels: Labels): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels)) {
    if (!Object.prototype.hasOwnProperty.call(labels, key) || labels[key] !== value) return false;
  }
  return selector.matchExpressions.every((r) => matchesRequirement(r, labels));
}

/**
 * OR over selectors. What an empty list means differs by field (all nodes for `nodeSelectors`, no pools for
 * a pool selector list that is present), so the caller says it.
 */
export function selectorsMatchAny(
  selectors: readonly LabelSelector[],
  labels: Labels,
  emptyMatches = true,
): boolean {
  if (selectors.length === 0) return emptyMatches;
  return selectors.some((s) => matchesSelector(s, labels));
}

/**
 * MetalLB's duplicate checks on a selector list (`validateLabelSelectorDuplicate`): repeated values inside
 * an expression, repeated expressions, then identical selectors. Texts match MetalLB's.
 */
export function selectorDuplicateProblems(selectors: readonly LabelSelector[], field: string): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const selector of selectors) {
    const seenExpressions = new Set<string>();
    for (const r of selector.matchExpressions) {
      const seenValues = new Set<string>();
      for (const v of r.values) {
        if (seenValues.has(v)) {
          problems.push(
            `duplicate definition of match expression value in label selector ${JSON.stringify(v)}`,
          );
        }
        seenValues.add(v);
      }
      const text = `${r.operator}:${requirementString(r)}`;
      if (seenExpressions.has(text)) {
        problems.push(`duplicate definition of match expressions ${JSON.stringify(requirementString(r))}`);
      }
      seenExpressions.add(text);
    }
    const text = selectorString(selector);
    if (seen.has(text)) problems.push(`duplicate definition of ${field} ${JSON.stringify(text)}`);
    seen.add(text);
  }
  return problems;
}

/** A selector from plain data (JSON or YAML already converted), for callers that have no source positions. */
export function parseSelector(value: unknown): { selector?: LabelSelector; problems: string[] } {
  if (value === null || value === undefined) return { selector: EVERYTHING, problems: [] };
  if (typeof value !== "object" || Array.isArray(value))
    return { problems: ["a label selector must be a mapping"] };
  const problems: string[] = [];
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (key !== "matchLabels" && key !== "matchExpressions")
      problems.push(`unknown field ${JSON.stringify(key)}`);
  }
  const matchLabels: Record<string, string> = {};
  const rawLabels = record.matchLabels;
  if (rawLabels !== undefined && rawLabels !== null) {
    if (typeof rawLabels !== "object" || Array.isArray(rawLabels))
      problems.push("matchLabels must be a mapping");
    else
      for (const [k, v] of Object.entries(rawLabels as Record<string, unknown>)) {
        if (typeof v === "string") matchLabels[k] = v;
        else problems.push(`matchLabels.${k} must be a string`);
      }
  }
  const matchExpressions: LabelRequirement[] = [];
  const rawExpressions = record.matchExpressions;
  if (rawExpressions !== undefined && rawExpressions !== null) {
    if (!Array.isArray(rawExpressions)) problems.push("matchExpressions must be a list");
    else
      rawExpressions.forEach((raw: unknown, i) => {
        if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
          problems.push(`matchExpressions[${i}] must be a mapping`);
          return;
        }
        const r = raw as Record<string, unknown>;
        const values = r.values ?? [];
        if (typeof r.key !== "string") problems.push(`matchExpressions[${i}].key must be a string`);
        if (typeof r.operator !== "string") problems.push(`matchExpressions[${i}].operator must be a string`);
        if (!Array.isArray(values) || values.some((v) => typeof v !== "string")) {
          problems.push(`matchExpressions[${i}].values must be a list of strings`);
        }
        if (typeof r.key === "string" && typeof r.operator === "string" && Array.isArray(values)) {
          matchExpressions.push({
            key: r.key,
            operator: r.operator as SelectorOperator,
            values: values.filter((v): v is string => typeof v === "string"),
          });
        }
      });
  }
  const selector: LabelSelector = { matchLabels, matchExpressions };
  problems.push(...validateSelector(selector));
  return problems.length === 0 ? { selector, problems } : { problems };
}
