// Arrays that live as long as a config does, kept small. An array grown by push() keeps room for 16 entries
// (~130 bytes spare), and the config holds several per service: at 10,000 services, megabytes of nothing.

const NONE: readonly never[] = Object.freeze([]);

/** An exact-size copy of `items`; every empty one is the same frozen array. */
export function exact<T>(items: readonly T[]): readonly T[] {
  return items.length === 0 ? NONE : items.slice();
}

/** `items` and then `more`, in a new exact-size array (a spread, like push, leaves room for 16). */
export function appended<T>(items: readonly T[], ...more: T[]): readonly T[] {
  return [...items, ...more].slice();
}

const NO_KEYS: Readonly<Record<string, never>> = Object.freeze({});

/** `record`, or the one frozen empty object when it has no keys (most services' labels and selector). */
export function sharedIfEmpty<T extends object>(record: T): T {
  for (const _ in record) return record;
  return NO_KEYS as T;
}
