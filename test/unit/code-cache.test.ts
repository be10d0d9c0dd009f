// The V8 code cache of the bundled CLI (lib/daemon/code-cache.ts, daemon/launch.ts, scripts/bundle.js): a cache
// is used only for the very bundle and Node it was made for, anything else is compiled as if there were none,
// and the build's cache fits the flags the daemon runs with.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  codeCacheKey,
  codeCachePath,
  decodeCodeCache,
  encodeCodeCache,
  loadBundle,
} from "../../lib/daemon/code-cache";
import { VIPD_NODE_FLAGS } from "../lab/cluster";

const DIST = join(__dirname, "..", "..");
const REPO = join(DIST, "..");

test("a cache file carries its key; another key, a short or foreign file gives nothing", () => {
  const key = codeCacheKey("source text", "v20.0.0");
  const data = Buffer.from([1, 2, 3, 4]);
  const file = encodeCodeCache(key, data);
  assert.deepEqual(decodeCodeCache(file, key), data);
  assert.equal(decodeCodeCache(file, codeCacheKey("source texT", "v20.0.0")), undefined);
  assert.equal(decodeCodeCache(file, codeCacheKey("source text", "v20.0.1")), undefined);
  assert.equal(decodeCodeCache(file.subarray(0, 20), key), undefined);
  assert.equal(decodeCodeCache(encodeCodeCache(key, Buffer.alloc(0)), key), undefined);
  assert.equal(
    decodeCodeCache(Buffer.from("not a cache at all, but long enough to read a header"), key),
    undefined,
  );
});

/** A bundle-shaped CommonJS file: a `#!` line, requires resolved from its folder, exports. */
const bundleText = (answer: number): string =>
  [
    "#!/usr/bin/env node",
    '"use strict";',
    'const { basename } = require("node:path");',
    `function answer() { return ${answer}; }`,
    "module.exports = { answer, dir: basename(__dirname), file: basename(__filename), main: require.main === module };",
    "",
  ].join("\n");

/**
 * loadBundle in a fresh process (in this one V8's in-memory compilation cache would answer for a source it has
 * seen, and the code cache would never be consulted): the cache's fate and the bundle's answer.
 */
function loadInChild(bundle: string, write = false): { status: string; answer: number; main: boolean } {
  const script = [
    `const { loadBundle } = require(${JSON.stringify(join(DIST, "lib", "daemon", "code-cache.js"))});`,
    "const bundle = loadBundle(process.argv[1]);",
    'if (process.argv[2] === "write") bundle.writeCache();',
    "process.stdout.write(JSON.stringify({ status: bundle.status, answer: bundle.exports.answer(), main: bundle.exports.main }));",
  ].join("\n");
  const result = spawnSync(process.execPath, ["-e", script, bundle, write ? "write" : "read"], {
    encoding: "utf8",
  });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as { status: string; answer: number; main: boolean };
}

test("loadBundle: no cache, then its own cache, then a same-length edit and a corrupt cache compile afresh", () => {
  const dir = mkdtempSync(join(tmpdir(), "vipd-code-cache-test-"));
  try {
    const bundle = join(dir, "cli.js");
    writeFileSync(bundle, bundleText(41));
    const first = loadBundle(bundle);
    assert.equal(first.status, "absent");
    assert.deepEqual(
      { ...first.exports, answer: (first.exports.answer as () => number)() },
      { answer: 41, dir: dir.split("/").pop(), file: "cli.js", main: false },
    );
    assert.deepEqual(loadInChild(bundle, true), { status: "absent", answer: 41, main: false });
    assert.deepEqual(loadInChild(bundle), { status: "accepted", answer: 41, main: false });

    // Same length, other code: V8 alone would take the cache (it checks the length); the key refuses it.
    writeFileSync(bundle, bundleText(42));
    assert.deepEqual(loadInChild(bundle), { status: "stale", answer: 42, main: false });

    // The right key over bytes V8 cannot use: rejected by V8, the bundle still runs.
    writeFileSync(
      codeCachePath(bundle),
      encodeCodeCache(codeCacheKey(bundleText(42)), Buffer.alloc(4096, 7)),
    );
    assert.deepEqual(loadInChild(bundle), { status: "rejected", answer: 42, main: false });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** `vipd version` through the built entry under `flags`: the cache report, the output, the exit status. */
function version(flags: readonly string[]): { report: string; stdout: string; status: number | null } {
  const result = spawnSync(process.execPath, [...flags, join(DIST, "daemon", "vipd.js"), "version"], {
    env: { ...process.env, VIPD_CODE_CACHE_REPORT: "1" },
    encoding: "utf8",
  });
  return { report: result.stderr, stdout: result.stdout, status: result.status };
}

test("the built cache is accepted under the daemon's flags and safely rejected under others", () => {
  const shipped = version(VIPD_NODE_FLAGS);
  assert.equal(shipped.report, "vipd: code cache accepted\n");
  assert.match(shipped.stdout, /^vipd \d+\.\d+\.\d+ \(revision /);
  assert.equal(shipped.status, 0);
  // Another V8 configuration (here: a V8 flag) is what a Node upgrade looks like to V8.
  const other = version(["--optimize-for-size"]);
  assert.equal(other.report, "vipd: code cache rejected\n");
  assert.equal(other.stdout, shipped.stdout);
  assert.equal(other.status, 0);
});

test("the build, the installed wrapper and the lab run the daemon under the same V8 flags", () => {
  const bundleScript = readFileSync(join(REPO, "scripts", "bundle.js"), "utf8");
  const declared = /const DAEMON_NODE_FLAGS = (\[[^\]]*\]);/.exec(bundleScript);
  assert.ok(declared, "scripts/bundle.js declares DAEMON_NODE_FLAGS");
  // Prettier breaks a long array over lines with a trailing comma, which JSON does not take.
  assert.deepEqual(JSON.parse((declared[1] ?? "[]").replace(/,\s*\]$/, "]")), VIPD_NODE_FLAGS);
  const install = readFileSync(join(REPO, "scripts", "install.sh"), "utf8");
  assert.match(
    install,
    new RegExp(`exec \\$RUN_NODE ${VIPD_NODE_FLAGS.join(" ")} \\$PREFIX/dist/daemon/vipd\\.js`),
  );
});
