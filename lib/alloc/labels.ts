// Kubernetes label-selector matching, needed for pool compatibility (serviceAllocation.serviceSelectors).
// Private to the allocator until lib/config/selectors.ts lands; then this file should re-export that one.
import type { LabelRequirement, LabelSelector, Labels } from "../config/types";

/** Every matchLabels pair and every expression must hold; an empty selector matches everything. */
export function selectorMatches(selector: LabelSelector, labels: Labels): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels)) {
    if (!Object.hasOwn(labels, key) || labels[key] !== value) return false;
  }
  return selector.matchExpressions.every((requirement) => requirementHolds(requirement, labels));
}

function requirementHolds(requirement: LabelRequirement, labels: Labels): boolean {
  const present = Object.hasOwn(labels, requirement.key);
  switch (requirement.operator) {
    case "In":
      return present && requirement.values.includes(labels[requirement.key] as string);
    case "NotIn":
      return !present || !requirement.values.includes(labels[requirement.key] as string);
    case "Exists":
      return present;
    case "DoesNotExist":
      return !present;
  }
}
