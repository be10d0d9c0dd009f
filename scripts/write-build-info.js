#!/usr/bin/env node
// Records what was built, for `vipd --version` and the vipd_build_info metric: the package version and the
// git commit of the checkout (with "-dirty" when tracked files differ from it). Runs after tsc in
// `npm run build`; it lands in dist/lib/, which install.sh and the package copy with the program.
"use strict";
const { execFileSync } = require("node:child_process");
const { mkdirSync, readFileSync, writeFileSync } = require("node:fs");
const { join } = require("node:path");

const root = join(__dirname, "..");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

function git(...args) {
  return execFileSync("git", args, {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  }).trim();
}

let revision = "unknown";
try {
  revision = git("rev-parse", "--short=12", "HEAD");
  try {
    git("diff", "--quiet", "HEAD", "--");
  } catch {
    revision += "-dirty";
  }
} catch {
  // Not a git checkout (a source tarball): the revision stays "unknown" rather than failing the build.
}
mkdirSync(join(root, "dist", "lib"), { recursive: true });
writeFileSync(join(root, "dist", "lib", "build-info.json"), JSON.stringify({ version, revision }) + "\n");
