#!/usr/bin/env node
// Bundles the daemon's entry points after tsc, so that starting vipd loads one file per thread instead of
// ~300 modules: Node's CommonJS loader (path resolution, stat, package.json reads, a wrapper per module)
// cost more CPU than the code it loaded. Measured on this project's 2-core machine: requiring the daemon
// took ~460 ms of CPU from dist/lib's files and ~260 ms from the bundle (docs/design.md, "Cost per VIP").
//
// The command line (dist/daemon/vipd.js from tsc) becomes dist/daemon/vipd-cli.js, and dist/daemon/vipd.js
// (install.sh, the package and the tests run that path) the small entry of daemon/launch.ts, which compiles
// the CLI bundle from a V8 code cache written here (lib/daemon/code-cache.ts; docs/design.md, "Start-up,
// the code cache"). The worker threads the daemon starts by file name (`join(__dirname, "thread-main.js")` and
// "config-worker.js") get their own bundles next to it, where __dirname points inside the bundle. The
// files under dist/lib stay as tsc wrote them: the unit tests and benches import those.
// Native add-ons stay outside the bundles (they load a .node file relative to their own package).
"use strict";
const { execFileSync } = require("node:child_process");
const { mkdtempSync, rmSync, writeFileSync, existsSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");
const esbuild = require("esbuild");

const dist = join(__dirname, "..", "dist");
// netlink's JavaScript is bundled (~40 ms of a start-up to load from node_modules, cold, against a code
// cache's fraction of it); only its raw.js, which loads the add-on relative to its own file, stays outside.
const NATIVE = ["koffi", "raw-socket", "netlink/dist/raw"];

/** netlink's own `require("./raw")` becomes the external `netlink/dist/raw` (see NATIVE). */
const netlinkRawOutside = {
  name: "netlink-raw-outside",
  setup(build) {
    build.onResolve({ filter: /^\.\/raw$/ }, (args) =>
      /[\\/]node_modules[\\/]netlink[\\/]dist$/.test(args.resolveDir)
        ? { path: "netlink/dist/raw", external: true }
        : undefined,
    );
  },
};

/**
 * The V8 flags the daemon runs with (scripts/install.sh's wrapper, test/lab/cluster.ts's VIPD_NODE_FLAGS;
 * test/unit/code-cache.test.ts checks they agree). V8 accepts a code cache only under the flags it was made with,
 * so the cache is made under these. --max-semi-space-size sizes the heap and the entry (daemon/launch.ts) sets
 * it back to its default; --single-threaded-gc stays (install.sh says why), so Node's own built-in modules do
 * not load from their cache. The daemon sets its other heap flags at run time (lib/daemon/heap-mode.ts).
 * --v8-pool-size is Node's.
 */
const DAEMON_NODE_FLAGS = ["--max-semi-space-size=4", "--single-threaded-gc", "--v8-pool-size=1"];

const bundles = [
  // First the CLI out of tsc's vipd.js, then the entry over it.
  { from: "daemon/vipd.js", to: "daemon/vipd-cli.js" },
  { from: "daemon/launch.js", to: "daemon/vipd.js" },
  { from: "lib/gossip/thread-main.js", to: "daemon/thread-main.js" },
  { from: "lib/daemon/config-worker.js", to: "daemon/config-worker.js" },
];

async function main() {
  for (const { from, to } of bundles) await bundle(from, to);
  writeCodeCache();
}

// Asynchronous: esbuild takes plugins (netlinkRawOutside) only there.
function bundle(from, to) {
  return esbuild.build({
    entryPoints: [join(dist, from)],
    outfile: join(dist, to),
    allowOverwrite: true,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    external: NATIVE,
    plugins: [netlinkRawOutside],
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

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

/**
 * Runs `vipd validate` on the example manifests through the new entry under the daemon's flags, with
 * VIPD_CODE_CACHE_WRITE=1: it then loads the modules `vipd run` loads and writes dist/daemon/vipd-cli.js.cache
 * from everything V8 compiled. A build without it would still run, only start slower: fail loudly instead.
 */
function writeCodeCache() {
  const cache = join(dist, "daemon", "vipd-cli.js.cache");
  rmSync(cache, { force: true });
  const work = mkdtempSync(join(tmpdir(), "vipd-code-cache-"));
  try {
    const settings = join(work, "vipd.yaml");
    writeFileSync(
      settings,
      [
        "nodeName: build",
        `manifests: [${JSON.stringify(join(__dirname, "..", "docs", "examples", "pools.yaml"))}]`,
        `stateDir: ${JSON.stringify(join(work, "state"))}`,
        "cluster: {insecure: true}",
        "",
      ].join("\n"),
    );
    execFileSync(
      process.execPath,
      [...DAEMON_NODE_FLAGS, join(dist, "daemon", "vipd.js"), "validate", "--config", settings],
      { env: { ...process.env, VIPD_CODE_CACHE_WRITE: "1" }, stdio: ["ignore", "ignore", "inherit"] },
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (!existsSync(cache)) throw new Error(`bundle: ${cache} was not written`);
}
