// The configuration digest: SHA-256 over a canonical form of the recognised objects, so that formatting,
// key order, comments, file names and file order do not change it, while any semantic change does.
import { createHash } from "node:crypto";

/**
 * JSON with object keys sorted at every level. The parts go into one array joined once, which gives one flat
 * string (the document cache keeps one per object; a template's result is a rope of its parts: 10,000
 * services were ~52,000 rope nodes, 1.7 MB, on top of the text). A cold load of 10,000 services built ~90 MB
 * of arrays and strings here when each level joined its own (an array per key, per object and per list).
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  writeCanonical(value, parts);
  return parts.join("");
}

function writeCanonical(value: unknown, out: string[]): void {
  if (value === null || typeof value !== "object") {
    out.push(
      typeof value === "bigint" ? JSON.stringify(value.toString()) : (JSON.stringify(value) ?? "null"),
    );
    return;
  }
  if (Array.isArray(value)) {
    out.push("[");
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(",");
      writeCanonical(value[i], out);
    }
    out.push("]");
    return;
  }
  if (value instanceof Map) {
    writeCanonical(Object.fromEntries(value), out);
    return;
  }
  const record = value as Record<string, unknown>;
  const keys = sortedKeys(record);
  out.push("{");
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    if (i > 0) out.push(",");
    out.push(JSON.stringify(key), ":");
    writeCanonical(record[key], out);
  }
  out.push("}");
}

/**
 * The object's own keys in the order Array.prototype.sort gives (UTF-16 code units), by insertion: objects
 * here have a handful of keys, and the built-in sort allocated a work array per call.
 */
function sortedKeys(record: Record<string, unknown>): string[] {
  const keys = Object.keys(record);
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    for (; j >= 0 && (keys[j] as string) > key; j--) keys[j + 1] = keys[j] as string;
    keys[j + 1] = key;
  }
  return keys;
}

/** Order-independent: the canonical objects are sorted before hashing. */
export function digestObjects(canonicalObjects: readonly string[]): string {
  const hash = createHash("sha256");
  for (const text of [...canonicalObjects].sort()) hash.update(text).update("\n");
  return hash.digest("hex");
}
