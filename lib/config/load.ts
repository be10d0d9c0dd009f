// The file-system edge of manifest loading: expand paths into files, read them, hand the text to the pure
// parser. Directories contribute their *.yaml and *.yml files (not recursive), sorted.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { diagnostic } from "./diagnostics";
import { parseManifests, type ManifestFile } from "./manifests";
import type { Diagnostic, LoadResult } from "./types";

/** Larger files are refused unread: no sane manifest is this big, and reading it would only eat memory. */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

export function loadManifests(paths: readonly string[]): LoadResult {
  return parseRead(readManifests(paths));
}

/** The manifest files `paths` names, read (directories expanded), with what could not be read. */
export interface ReadManifests {
  readonly files: readonly ManifestFile[];
  readonly diagnostics: readonly Diagnostic[];
}

export function readManifests(paths: readonly string[]): ReadManifests {
  const diagnostics: Diagnostic[] = [];
  const files: ManifestFile[] = [];
  for (const path of expandPaths(paths, diagnostics)) {
    try {
      const size = statSync(path).size;
      if (size > MAX_MANIFEST_BYTES) {
        diagnostics.push(
          diagnostic(
            "error",
            `file is ${size} bytes, larger than the ${MAX_MANIFEST_BYTES}-byte limit for manifests`,
            { file: path, line: 1, column: 1 },
          ),
        );
        continue;
      }
      files.push({ path, text: readFileSync(path, "utf8") });
    } catch (err) {
      diagnostics.push(
        diagnostic("error", `cannot read: ${errorText(err)}`, { file: path, line: 1, column: 1 }),
      );
    }
  }
  if (files.length === 0 && diagnostics.length === 0) {
    // An empty folder (or one holding only *.yml.bak, say) would load as "no pools, no services" and drop
    // every VIP; far more often it is the wrong folder.
    diagnostics.push(
      diagnostic(
        "error",
        `no manifest files: ${paths.map((p) => JSON.stringify(p)).join(", ")} hold no *.yaml or *.yml file`,
      ),
    );
  }
  return { files, diagnostics };
}

/** Parses what readManifests read; its diagnostics come first. */
export function parseRead({ files, diagnostics }: ReadManifests): LoadResult {
  const result = parseManifests(files);
  if (diagnostics.length === 0) return result;
  const all = [...diagnostics, ...result.diagnostics];
  const { config: _dropped, ...rest } = result;
  return diagnostics.some((d) => d.severity === "error")
    ? { ...rest, diagnostics: all }
    : { ...result, diagnostics: all };
}

/** The manifests' total size in bytes (files that cannot be read count 0): how big a load is ahead. */
export function manifestBytes(paths: readonly string[]): number {
  let bytes = 0;
  for (const path of expandPaths(paths, [])) {
    try {
      bytes += statSync(path).size;
    } catch {
      // The load reports it.
    }
  }
  return bytes;
}

/** Files named directly, plus *.yaml / *.yml inside named directories; duplicates removed. */
export function expandPaths(paths: readonly string[], diagnostics: Diagnostic[]): string[] {
  const out = new Set<string>();
  for (const path of paths) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch (err) {
      diagnostics.push(
        diagnostic("error", `manifest path ${JSON.stringify(path)} cannot be read: ${errorText(err)}`),
      );
      continue;
    }
    if (!isDirectory) {
      out.add(path);
      continue;
    }
    try {
      const names = readdirSync(path)
        .filter((n) => (n.endsWith(".yaml") || n.endsWith(".yml")) && !n.startsWith("."))
        .sort();
      for (const name of names) {
        const full = join(path, name);
        if (statSync(full).isFile()) out.add(full);
      }
    } catch (err) {
      diagnostics.push(
        diagnostic("error", `manifest directory ${JSON.stringify(path)} cannot be read: ${errorText(err)}`),
      );
    }
  }
  return [...out];
}

function errorText(err: unknown): string {
  if (err instanceof Error && "code" in err && typeof err.code === "string") {
    return err.code === "ENOENT" ? "no such file or directory" : `${err.code}: ${err.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}
