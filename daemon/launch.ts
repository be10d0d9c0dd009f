#!/usr/bin/env node
// The `vipd` entry point (dist/daemon/vipd.js after the build): runs the bundled command line
// (dist/daemon/vipd-cli.js, from daemon/vipd.ts) compiled from its V8 code cache (lib/daemon/code-cache.ts).
// VIPD_CODE_CACHE_REPORT=1 prints what became of the cache; VIPD_CODE_CACHE_WRITE=1 (the build's own run)
// writes it after the command, with the modules `vipd run` loads compiled in.
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { loadBundle } from "../lib/daemon/code-cache";

// --max-semi-space-size (the wrapper's) sizes the main heap's young generation when V8 creates it, the only
// time V8 reads it for this heap. Back at V8's default value from here on, the flags are what the heap mode's
// bursts restore (lib/daemon/heap-mode.ts), and what the build made this bundle's cache under. The wrapper's
// --single-threaded-gc stays set (scripts/install.sh says why and what it costs).
setFlagsFromString("--max-semi-space-size=0");
const bundle = loadBundle(join(__dirname, "vipd-cli.js"));
if (process.env.VIPD_CODE_CACHE_REPORT === "1") process.stderr.write(`vipd: code cache ${bundle.status}\n`);
const cli = bundle.exports as typeof import("./vipd");
void cli.runCli(process.argv.slice(2)).then(() => {
  if (process.env.VIPD_CODE_CACHE_WRITE !== "1") return;
  cli.loadRunModules();
  bundle.writeCache();
});
