#!/usr/bin/env node
// Bundles the daemon's entry points after tsc, so that starting vipd loads one file per thread instead of
// ~300 modules: Node's CommonJS loader (path resolution, stat, package.json reads, a wrapper per module)
// cost more CPU than the code it loaded. Measured on this project's 2-core machine: requiring the daemon
// took ~460 ms of CPU from dist/lib's files and ~260 ms from the bundle (docs/design.md, "Cost per VIP").
//
// dist/daemon/vipd.js is replaced in place by its bundle (install.sh, the package and the tests run that
// path). The worker threads the daemon starts by file name (`join(__dirname, "thread-main.js")` and
// "config-worker.js") get their own bundles next to it, where __dirname points inside the bundle. The
// files under dist/lib stay as tsc wrote them: the unit tests and benches import those.
// Native add-ons stay outside the bundles (they load a .node file relative to their own package).
"use strict";
const { join } = require("node:path");
const esbuild = require("esbuild");

const dist = join(__dirname, "..", "dist");
const NATIVE = ["koffi", "netlink", "raw-socket"];

const bundles = [
  { from: "daemon/vipd.js", to: "daemon/vipd.js" },
  { from: "lib/gossip/thread-main.js", to: "daemon/thread-main.js" },
  { from: "lib/daemon/config-worker.js", to: "daemon/config-worker.js" },
];

for (const { from, to } of bundles) {
  esbuild.buildSync({
    entryPoints: [join(dist, from)],
    outfile: join(dist, to),
    allowOverwrite: true,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    external: NATIVE,
    // Minified: V8 keeps each script's source in memory, and the bundle also holds modules only other
    // commands run. Unminified it cost ~1.1 MB more idle RSS than tsc's files; minified it costs nothing
    // (measured, one daemon, 5 VIPs). keepNames keeps functions' and classes' `name`; stack traces name
    // positions in the bundle, which the source map beside it maps back (`node --enable-source-maps`).
    minifyWhitespace: true,
    minifySyntax: true,
    minifyIdentifiers: true,
    keepNames: true,
    // Maps back to the TypeScript sources through the maps tsc wrote.
    sourcemap: true,
    logLevel: "warning",
  });
}
