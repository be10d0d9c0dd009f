// Loading the bundled CLI (dist/daemon/vipd-cli.js) with a V8 code cache. Compiling the half-megabyte bundle
// (V8 pre-parses all of it) and then each function on its first call is a good part of start-up's CPU, and
// three daemons starting at once share two cores. The build (scripts/bundle.js) runs the bundle once under the
// daemon's own V8 flags and saves what V8 compiled (`Script.createCachedData()` after running: the top level
// and every function that ran) beside the bundle; each start then deserialises that instead.
//
// V8 checks the cache's V8 version and flags itself and rejects a mismatch (`cachedDataRejected`: a node
// upgrade, other flags), and then compiles as if there were none. It checks only the source's length, not its
// text, so our header carries a SHA-256 of the bundle and the Node version: a cache of another build is never
// handed to V8. A missing, stale or rejected cache only costs the compile it would have saved.
import { createHash } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { Script } from "node:vm";

const HEADER_PREFIX = "vipd-code-cache 1 ";

/** What became of the cache at this start: `absent` (no file), `stale` (another build or Node), V8's verdict. */
export type CodeCacheStatus = "absent" | "stale" | "accepted" | "rejected";

/** The key a cache must carry for `source` under this Node: its text and the runtime it was compiled for. */
export function codeCacheKey(source: string, nodeVersion: string = process.version): string {
  return createHash("sha256").update(nodeVersion).update("\0").update(source).digest("hex");
}

/** A cache file's bytes: a one-line header naming its key, then V8's data. */
export function encodeCodeCache(key: string, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${HEADER_PREFIX}${key}\n`, "latin1"), data]);
}

/** V8's data from a cache file's bytes, or undefined when the file is not a cache for `key`. */
export function decodeCodeCache(file: Buffer, key: string): Buffer | undefined {
  const header = Buffer.from(`${HEADER_PREFIX}${key}\n`, "latin1");
  if (file.length <= header.length || !file.subarray(0, header.length).equals(header)) return undefined;
  return file.subarray(header.length);
}

/** Where the cache of a bundle lives: beside it. */
export const codeCachePath = (bundlePath: string): string => `${bundlePath}.cache`;

export interface LoadedBundle {
  /** The bundle's `module.exports`. */
  readonly exports: Record<string, unknown>;
  readonly status: CodeCacheStatus;
  /** Writes the cache of what V8 has compiled of the bundle so far (the build calls it after a run). */
  writeCache(): void;
}

type CommonJsWrapper = (
  exports: unknown,
  require: NodeJS.Require,
  module: { exports: unknown },
  filename: string,
  dirname: string,
) => void;

/**
 * Runs a CommonJS bundle's top level the way `require` would (its own `require` resolving from its directory,
 * `__dirname` its directory), compiled from the cache beside it when that cache fits. The bundle's
 * `require.main === module` is false: the caller runs what it exports.
 */
export function loadBundle(bundlePath: string): LoadedBundle {
  const source = readFileSync(bundlePath, "utf8");
  const key = codeCacheKey(source);
  const cachePath = codeCachePath(bundlePath);
  let cachedData: Buffer | undefined;
  let status: CodeCacheStatus = "absent";
  try {
    cachedData = decodeCodeCache(readFileSync(cachePath), key);
    status = cachedData === undefined ? "stale" : "accepted";
  } catch {
    // No cache (a tree built without it, or removed): compile as usual.
  }
  // A wrapper on the first line keeps every line number; a `#!` line becomes a comment of the same length.
  const body = source.startsWith("#!") ? `//${source.slice(2)}` : source;
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${body}\n})`, {
    filename: bundlePath,
    cachedData,
  });
  if (cachedData !== undefined && script.cachedDataRejected === true) status = "rejected";
  const wrapper = script.runInThisContext() as CommonJsWrapper;
  const module = { exports: {} as Record<string, unknown> };
  wrapper.call(
    module.exports,
    module.exports,
    createRequire(bundlePath),
    module,
    bundlePath,
    dirname(bundlePath),
  );
  return {
    exports: module.exports,
    status,
    writeCache: () => {
      const temporary = `${cachePath}.${process.pid}.tmp`;
      writeFileSync(temporary, encodeCodeCache(key, script.createCachedData()));
      renameSync(temporary, cachePath);
    },
  };
}
