// The per-document parse cache of manifests.ts, and how a file is cut into document chunks. An edit usually
// touches one object of thousands: the others are reused instead of parsed and read again, which keeps a
// reload of 10,000 services to the cost of the edited objects plus the cross-object checks. Also tells the
// config loader how much of a reload would really be parsed (uncachedBytes), so that a small edit of a large
// config loads on the main thread, where this cache lives, instead of in a fresh worker that parses it all.
import { createHash, hash } from "node:crypto";
import { exact } from "../arrays";
import type { RawAdvertisement } from "./l2advertisement";
import type { RawPool } from "./pool";
import type { Diagnostic, Labels, Service, SourceRef } from "./types";

export interface RawNamespace {
  readonly name: string;
  readonly labels: Labels;
  readonly source: SourceRef;
  readonly object: string;
}

export interface RawService {
  readonly service: Service;
  readonly object: string;
}

/** The objects read from documents, in YAML order, before the cross-object checks (buildConfig). */
export interface Collected {
  readonly pools: RawPool[];
  readonly advertisements: RawAdvertisement[];
  readonly services: RawService[];
  readonly namespaces: RawNamespace[];
  readonly canonical: string[];
}

/** What reading one document added: objects for buildConfig and diagnostics. */
export interface DocumentReading {
  readonly collected: { readonly [K in keyof Collected]: readonly Collected[K][number][] };
  readonly diagnostics: readonly Diagnostic[];
}

/**
 * A reading as the cache keeps it, for as long as its document is unchanged: every array exact-size and every
 * empty one shared. At 10,000 one-object documents the arrays push() grew held ~4 MB of spare room.
 */
export function cachedReading(collected: Collected, diagnostics: readonly Diagnostic[]): DocumentReading {
  return {
    collected: {
      pools: exact(collected.pools),
      advertisements: exact(collected.advertisements),
      services: exact(collected.services),
      namespaces: exact(collected.namespaces),
      canonical: exact(collected.canonical),
    },
    diagnostics: exact(diagnostics),
  };
}

export interface Chunk {
  /** Offset of the chunk in its file. */
  readonly start: number;
  /** 1-based line of the chunk's first character. */
  readonly line: number;
  readonly text: string;
  /** Its key in the document cache (chunkKey), built once: both uncachedBytes and the parse look it up. */
  readonly key: string;
}

/**
 * path -> (first line + hash of a document chunk's text -> what reading it added), from the previous parse. Keyed by
 * the first line as well as the text because the diagnostics and sources carry absolute line numbers;
 * objects are immutable once read.
 */
export const documentCache = new Map<string, Map<string, DocumentReading>>();

export const chunkKey = (chunk: Chunk): string => chunk.key;

/**
 * The cache key: the first line and a SHA-256 of the text. The text itself as the key kept every document's
 * text, and through it (a slice) the whole file's, alive for as long as the cache: ~2.5 MB at 10,000 services.
 * Hashing 10,000 chunks costs ~5-10 ms per load. Joined, not a template: a flat string, not a rope of parts.
 */
const chunk = (start: number, line: number, text: string): Chunk => ({
  start,
  line,
  text,
  key: [line, sha256(text)].join("\n"),
});

const sha256: (text: string) => string =
  typeof hash === "function"
    ? (text) => hash("sha256", text, "base64")
    : (text) => createHash("sha256").update(text).digest("base64");

/**
 * The chunks uncachedBytes cut, for the parse that follows it on the very same texts (the config loader
 * asks, then parses): cutting a 1,000-service file into chunks and keying them twice was ~4 ms of a reload's
 * cold main thread. Each is taken by the first fileChunks() of its text; forgetMeasured() drops the rest.
 */
let measured = new Map<string, Chunk[]>();

/** Drops what uncachedBytes kept for a parse that will not run here (the loader sent it to a worker). */
export function forgetMeasured(): void {
  measured = new Map();
}

/**
 * The chunks of a file: one per document, or the whole file when it has directives (%YAML, %TAG), which
 * apply across the documents that follow them.
 */
export function fileChunks(text: string): Chunk[] {
  const known = measured.get(text);
  if (known) {
    measured.delete(text);
    return known;
  }
  return /^%/m.test(text) ? [chunk(0, 1, text)] : documentChunks(text);
}

/**
 * How many characters of `files` a parse would read afresh: those of the chunks the cache does not hold.
 * A file with NUL bytes counts whole (it is refused anyway, and cheaply).
 */
export function uncachedBytes(
  files: ReadonlyArray<{ readonly path: string; readonly text: string }>,
): number {
  let total = 0;
  forgetMeasured();
  for (const file of files) {
    const cached = documentCache.get(file.path);
    if (!cached) {
      total += file.text.length;
      continue;
    }
    const chunks = fileChunks(file.text);
    measured.set(file.text, chunks);
    for (const c of chunks) if (!cached.has(c.key)) total += c.text.length;
  }
  return total;
}

/** The file's text cut before every document marker (`---` at the start of a line), with where each starts. */
function documentChunks(text: string): Chunk[] {
  const chunks: Chunk[] = [];
  let start = 0;
  let line = 1;
  let at = 0;
  let lineNo = 1;
  while (at < text.length) {
    const end = text.indexOf("\n", at);
    const lineEnd = end < 0 ? text.length : end;
    if (at > start && isDocumentStart(text, at, lineEnd)) {
      chunks.push(chunk(start, line, text.slice(start, at)));
      start = at;
      line = lineNo;
    }
    if (end < 0) break;
    at = end + 1;
    lineNo++;
  }
  chunks.push(chunk(start, line, text.slice(start)));
  return chunks;
}

/** `---` at the start of a line, alone or followed by a blank: a document marker even inside block scalars. */
function isDocumentStart(text: string, at: number, lineEnd: number): boolean {
  if (!text.startsWith("---", at)) return false;
  const after = at + 3;
  if (after >= lineEnd) return true;
  const c = text.charCodeAt(after);
  return c === 32 || c === 9 || c === 13;
}
