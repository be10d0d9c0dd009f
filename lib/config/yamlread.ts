// Typed reading of YAML nodes with positions. Reading goes through the node tree (not plain JS) so that
// every problem can point at the exact line and column, and so that one bad field does not stop the
// reading of the others: accessors report and return undefined, callers carry on.
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from "yaml";
import { diagnostic } from "./diagnostics";
import { unknownKeyMessage } from "./suggest";
import type { Diagnostic, Severity, SourceRef } from "./types";

/** A ceiling on alias dereferences per document, so a "billion laughs" file cannot blow up the walk. */
const MAX_ALIASES_PER_DOCUMENT = 10_000;

export class ReadContext {
  object: string | undefined;
  private aliasCount = 0;
  private aliasReported = false;

  constructor(
    readonly file: string,
    readonly lines: LineCounter,
    /** Absent for trees built by the js-yaml fast path, which contain no Alias nodes. */
    readonly doc: Document.Parsed | undefined,
    readonly diagnostics: Diagnostic[],
    /** Where the parsed text starts in the file: node offsets are relative to it (one document chunk). */
    readonly base = 0,
  ) {}

  sourceAt(offset: number): SourceRef {
    const { line, col } = this.lines.linePos(offset + this.base);
    return { file: this.file, line, column: col };
  }

  sourceOf(node: Node | null | undefined, fallback?: SourceRef): SourceRef {
    if (node?.range) return this.sourceAt(node.range[0]);
    return fallback ?? { file: this.file, line: 1, column: 1 };
  }

  report(severity: Severity, node: Node | null | undefined, message: string, fallback?: SourceRef): void {
    this.diagnostics.push(diagnostic(severity, message, this.sourceOf(node, fallback), this.object));
  }

  error(node: Node | null | undefined, message: string, fallback?: SourceRef): void {
    this.report("error", node, message, fallback);
  }

  warn(node: Node | null | undefined, message: string, fallback?: SourceRef): void {
    this.report("warning", node, message, fallback);
  }

  /** Follows aliases; null for an absent value, an explicit `null`, or an unresolvable alias. */
  resolve(node: unknown): Node | null {
    let current = node;
    let hops = 0;
    while (isAlias(current)) {
      if (++this.aliasCount > MAX_ALIASES_PER_DOCUMENT) {
        if (!this.aliasReported) {
          this.error(current, `more than ${MAX_ALIASES_PER_DOCUMENT} alias references in one document`);
          this.aliasReported = true;
        }
        return null;
      }
      const target: unknown = this.doc ? current.resolve(this.doc) : undefined;
      if (target === undefined) {
        this.error(current, `unknown alias *${current.source}`);
        return null;
      }
      current = target;
      if (++hops > 100) return null;
    }
    if (current === null || current === undefined) return null;
    if (isScalar(current) && current.value === null) return null;
    return current as Node;
  }
}

export function describe(node: Node | null): string {
  if (node === null) return "null";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    const v = node.value;
    if (typeof v === "string") return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + "..." : v)}`;
    if (typeof v === "number" || typeof v === "bigint") return `number ${String(v)}`;
    if (typeof v === "boolean") return `boolean ${String(v)}`;
  }
  return "an unsupported value";
}

export interface Field {
  readonly key: string;
  readonly keyNode: Node;
  /** Alias-resolved; null when the value is absent or `null`. */
  readonly value: Node | null;
}

export type Fields = ReadonlyMap<string, Field>;

/**
 * A mapping's entries. With a list of allowed keys, any other key is an error with a "did you mean" hint.
 * Returns undefined (after reporting) when the node is not a mapping.
 */
export function readMap(
  ctx: ReadContext,
  node: Node | null,
  path: string,
  allowed: readonly string[] | "any",
): Map<string, Field> | undefined {
  if (node === null) return new Map();
  if (!isMap(node)) {
    ctx.error(node, `${path}: expected a mapping, got ${describe(node)}`);
    return undefined;
  }
  const out = new Map<string, Field>();
  for (const pair of node.items) {
    const keyNode = ctx.resolve(pair.key);
    if (keyNode === null || !isScalar(keyNode) || typeof keyNode.value === "object") {
      ctx.error(keyNode, `${path}: keys must be strings, got ${describe(keyNode)}`);
      continue;
    }
    const key = String(keyNode.value);
    if (allowed !== "any" && !allowed.includes(key)) {
      const full = path ? `${path}.${key}` : key;
      ctx.error(
        keyNode,
        unknownKeyMessage(
          "field",
          full,
          allowed.map((k) => (path ? `${path}.${k}` : k)),
        ),
      );
      continue;
    }
    out.set(key, { key, keyNode, value: ctx.resolve(pair.value) });
  }
  return out;
}

export const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);

export function readString(ctx: ReadContext, node: Node | null, path: string): string | undefined {
  if (node === null) return undefined;
  if (isScalar(node) && typeof node.value === "string") return node.value;
  ctx.error(node, `${path}: expected a string, got ${describe(node)}`);
  return undefined;
}

export function readBool(ctx: ReadContext, node: Node | null, path: string): boolean | undefined {
  if (node === null) return undefined;
  if (isScalar(node) && typeof node.value === "boolean") return node.value;
  ctx.error(node, `${path}: expected true or false, got ${describe(node)}`);
  return undefined;
}

export function readInt(
  ctx: ReadContext,
  node: Node | null,
  path: string,
  min = Number.MIN_SAFE_INTEGER,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (node === null) return undefined;
  if (isScalar(node) && typeof node.value === "number" && Number.isSafeInteger(node.value)) {
    if (node.value < min || node.value > max) {
      ctx.error(node, `${path}: ${node.value} is out of range ${min}..${max}`);
      return undefined;
    }
    return node.value;
  }
  ctx.error(node, `${path}: expected an integer, got ${describe(node)}`);
  return undefined;
}

/** Items of a list, alias-resolved; undefined after reporting when the node is not a list. */
export function readList(ctx: ReadContext, node: Node | null, path: string): (Node | null)[] | undefined {
  if (node === null) return [];
  if (!isSeq(node)) {
    ctx.error(node, `${path}: expected a list, got ${describe(node)}`);
    return undefined;
  }
  return node.items.map((item) => ctx.resolve(item));
}

/** A list of strings; bad items are reported and dropped, so later checks still see the good ones. */
export function readStringList(
  ctx: ReadContext,
  node: Node | null,
  path: string,
): { value: string; node: Node }[] | undefined {
  const items = readList(ctx, node, path);
  if (!items) return undefined;
  const out: { value: string; node: Node }[] = [];
  items.forEach((item, i) => {
    const value = readString(ctx, item, `${path}[${i}]`);
    if (value !== undefined && item !== null) out.push({ value, node: item });
    else if (item === null) ctx.error(node, `${path}[${i}]: expected a string, got null`);
  });
  return out;
}

/** A string-to-string mapping (labels, annotations, selectors' matchLabels). */
export function readStringMap(
  ctx: ReadContext,
  node: Node | null,
  path: string,
): Record<string, string> | undefined {
  const fields = readMap(ctx, node, path, "any");
  if (!fields) return undefined;
  const out: Record<string, string> = {};
  for (const field of fields.values()) {
    const value = readString(ctx, field.value, join(path, field.key));
    if (value !== undefined) setOwn(out, field.key, value);
    else if (field.value === null) setOwn(out, field.key, "");
  }
  return out;
}

/** Plain assignment would treat a `__proto__` key as the prototype; labels are data, so define it. */
export function setOwn<T>(record: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}
