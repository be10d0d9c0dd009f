// A memo for values built from a handful of keys (a host's MACs, its interfaces' frame templates): kept in a
// plain Map, emptied when it reaches its bound, so a churn of keys cannot grow it and the few hot keys are
// rebuilt at once.

/** `cache`'s value for `key`, built by `build` (and kept) when absent; `cache` is emptied at `max` entries. */
export function cachedIn<K, V>(cache: Map<K, V>, max: number, key: K, build: (key: K) => V): V {
  let value = cache.get(key);
  if (value === undefined) {
    value = build(key);
    if (cache.size >= max) cache.clear();
    cache.set(key, value);
  }
  return value;
}
