// What this program is: its version and the commit it was built from (written by scripts/write-build-info.js
// at build time). Shown by `vipd --version`, exported as vipd_build_info and in /status.
import { readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export interface BuildInfo {
  readonly version: string;
  /** Short git commit of the build, "-dirty" when built from modified files, "unknown" outside git. */
  readonly revision: string;
}

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  cached ??= readBuildInfo();
  return cached;
}

/**
 * dist/, from the directory of the code asking: compiled, build-info.js is in dist/lib/daemon; bundled
 * (scripts/bundle.js), it is part of dist/daemon/vipd-cli.js.
 */
export function distRootOf(moduleDir: string): string {
  return basename(dirname(moduleDir)) === "lib" ? join(moduleDir, "..", "..") : join(moduleDir, "..");
}

function readBuildInfo(): BuildInfo {
  // The record is dist/lib/build-info.json.
  try {
    const parsed = JSON.parse(
      readFileSync(join(distRootOf(__dirname), "lib", "build-info.json"), "utf8"),
    ) as Partial<BuildInfo>;
    if (typeof parsed.version === "string" && typeof parsed.revision === "string")
      return { version: parsed.version, revision: parsed.revision };
  } catch {
    // A tree built without the build script (a bare tsc): fall back to package.json.
  }
  const pkg = JSON.parse(readFileSync(join(distRootOf(__dirname), "..", "package.json"), "utf8")) as {
    version: string;
  };
  return { version: pkg.version, revision: "unknown" };
}
