import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadManifests } from "../../lib/config/load";
import { ConfigLoader, IN_PROCESS_MAX_BYTES } from "../../lib/daemon/config-loader";

const FIXTURE = join(__dirname, "..", "..", "..", "test", "fixtures", "config", "seed.yaml");

const service = (name: string): string =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}]}`;

/** A manifest larger than IN_PROCESS_MAX_BYTES; returns how many services it has. */
function bigManifest(path: string): number {
  const docs = [
    "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: big}\nspec: {addresses: [198.18.64.0/18]}",
    "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: all}\nspec: {ipAddressPools: [big]}",
  ];
  let services = 0;
  for (; docs.join("\n---\n").length <= IN_PROCESS_MAX_BYTES; services++) docs.push(service(`s${services}`));
  writeFileSync(path, docs.join("\n---\n") + "\n");
  return services;
}

test("a small config loads on the main thread; a large one first in a worker, which goes after it; an edit of it on the main thread", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vipd-loader-"));
  const loader = new ConfigLoader();
  try {
    const small = await loader.load([FIXTURE], undefined);
    assert.equal(small.ok, true);
    assert.equal(loader.workerLoads, 0, "a small config needs no worker");
    assert.equal(loader.lastLoad?.loadedIn, "main thread", "the reload's log says where it loaded");
    assert.equal(loader.workerRunning, false);

    const big = join(dir, "big.yaml");
    const count = bigManifest(big);
    const large = await loader.load([big], undefined);
    assert.equal(large.ok, true, large.ok ? "" : large.errors.join("; "));
    assert.equal(loader.workerLoads, 1, "a large config parsed afresh went to a worker");
    assert.equal(loader.lastLoad?.loadedIn, "worker");
    assert.ok(Number(loader.lastLoad?.loadMs) >= 0, "and how long it took");
    assert.equal(loader.workerRunning, false, "the worker went once its load was done");
    if (!large.ok) return;
    assert.equal(large.active.allocation.assignments.length, count);

    // The worker's parse left nothing in this thread's cache: the same load again still goes to a worker.
    // A load here (as at start-up) fills it; then an edit of one document loads here, with the same result
    // as a full parse and every other service keeping its IP.
    const startup = await loader.load([big], large.active);
    assert.equal(loader.workerLoads, 2);
    assert.equal(startup.ok, true);
    loadManifests([big]);
    appendFileSync(big, `---\n${service("added")}\n`);
    const edited = await loader.load([big], large.active);
    assert.equal(loader.workerLoads, 2, "an edit of a cached large config loads on the main thread");
    assert.equal(edited.ok, true, edited.ok ? "" : edited.errors.join("; "));
    if (!edited.ok) return;
    assert.equal(edited.active.allocation.assignments.length, count + 1);
    for (const a of large.active.allocation.assignments)
      assert.deepEqual(edited.active.allocation.state.assignments[a.service]?.ips, a.ips);

    const broken = join(dir, "broken.yaml");
    writeFileSync(broken, "kind: [unclosed\n");
    const bad = await loader.load([broken], undefined);
    assert.equal(bad.ok, false, "errors come back as an outcome, in-process too");
  } finally {
    loader.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a reload that finds a manifest file emptied (a write under way) keeps the config in force; a comment empties it on purpose", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vipd-loader-"));
  const loader = new ConfigLoader();
  try {
    const pools = join(dir, "pools.yaml");
    const other = join(dir, "other.yaml");
    writeFileSync(pools, readFileSync(FIXTURE, "utf8"));
    writeFileSync(other, "");
    const first = await loader.load([pools, other], undefined);
    assert.ok(first.ok, first.ok ? "" : first.errors.join("; "));
    // A file that was empty before stays allowed (no object came from it).
    const again = await loader.load([pools, other], first.active);
    assert.equal(again.ok, true, "an empty file nothing came from is no error");

    writeFileSync(pools, "");
    const truncated = await loader.load([pools, other], first.active);
    assert.equal(truncated.ok, false, "an emptied file is not read as 'no objects'");
    if (truncated.ok) return;
    assert.equal(truncated.errors.length, 1);
    assert.match(
      truncated.errors[0] ?? "",
      new RegExp(`^${pools}:1:1: error: the file is empty, but \\d+ object`),
    );
    assert.doesNotMatch(truncated.errors[0] ?? "", /other\.yaml/);

    writeFileSync(pools, "# every VIP removed on purpose\n");
    const deliberate = await loader.load([pools, other], first.active);
    assert.ok(deliberate.ok, deliberate.ok ? "" : deliberate.errors.join("; "));
    assert.equal(
      deliberate.active.allocation.assignments.length,
      0,
      "a comment-only file removes everything",
    );
  } finally {
    loader.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
