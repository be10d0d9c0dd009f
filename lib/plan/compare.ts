// Allocation-free equality helpers shared by the planner, the metadata publisher and the address applier.
// They exist because the daemon compares 10,000-entry structures every second and must not build keys.
import type { ElectionResult } from "../election/election";

/** One frozen empty list, returned instead of a fresh [] per pass. */
export const EMPTY_LIST: readonly never[] = Object.freeze([]);

export function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Two string maps with the same entries. */
export function sameEntries(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

export function sameRecord(
  a: Readonly<Record<string, string>>,
  b: Readonly<Record<string, string>>,
): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) if (a[k] !== b[k]) return false;
  return true;
}

export function sameElection(a: ElectionResult, b: ElectionResult): boolean {
  return (
    a.owner === b.owner &&
    a.reason === b.reason &&
    sameList(a.interfaces, b.interfaces) &&
    a.ranking.length === b.ranking.length &&
    a.ranking.every((v, i) => {
      const w = b.ranking[i];
      return w !== undefined && v.node === w.node && v.score === w.score && v.skipped === w.skipped;
    })
  );
}
