// The bundled entry points (scripts/bundle.js): self-contained apart from Node's own modules and the native
// add-ons, with the worker entry files where the bundled daemon starts them, and build-info found from
// either layout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { join } from "node:path";
import { distRootOf } from "../../lib/daemon/build-info";

const DIST = join(__dirname, "..", "..");
const NATIVE = new Set(["koffi", "raw-socket", "netlink/dist/raw"]);
const ENTRIES = ["vipd.js", "vipd-cli.js", "thread-main.js", "config-worker.js"];

test("each bundle requires only Node's modules and the native add-ons", () => {
  for (const entry of ENTRIES) {
    const text = readFileSync(join(DIST, "daemon", entry), "utf8");
    const required = [...text.matchAll(/\brequire\(\s*"([^"]+)"\s*\)/g)].map((m) => m[1] ?? "");
    assert.ok(required.length > 0, `${entry}: no require() found, is it a bundle?`);
    const outside = required.filter((name) => !isBuiltin(name) && !NATIVE.has(name));
    assert.deepEqual(outside, [], `${entry} requires files outside the bundle`);
    // A require by a computed path would load a file esbuild never saw.
    assert.doesNotMatch(text, /\brequire\(\s*[^"'\s)]/, `${entry} has a require() of a computed path`);
  }
});

test("the bundled daemon finds its worker entry files beside it", () => {
  const daemon = readFileSync(join(DIST, "daemon", "vipd-cli.js"), "utf8");
  for (const worker of ["thread-main.js", "config-worker.js"]) {
    assert.ok(daemon.includes(`"${worker}"`), `vipd-cli.js names ${worker}`);
    assert.ok(existsSync(join(DIST, "daemon", worker)), `dist/daemon/${worker} exists`);
  }
});

test("the entry runs the CLI bundle beside it, compiled from its code cache", () => {
  const entry = readFileSync(join(DIST, "daemon", "vipd.js"), "utf8");
  assert.ok(entry.includes(`"vipd-cli.js"`), "vipd.js names vipd-cli.js");
  assert.ok(entry.length < 20_000, `vipd.js is the small entry, not the CLI (${entry.length} bytes)`);
  assert.ok(existsSync(join(DIST, "daemon", "vipd-cli.js.cache")), "dist/daemon/vipd-cli.js.cache exists");
});

test("build-info finds dist/ from the compiled file and from the bundle", () => {
  assert.equal(distRootOf("/opt/vipd/dist/lib/daemon"), "/opt/vipd/dist");
  assert.equal(distRootOf("/opt/vipd/dist/daemon"), "/opt/vipd/dist");
  assert.equal(distRootOf(join(DIST, "lib", "daemon")), DIST);
});
