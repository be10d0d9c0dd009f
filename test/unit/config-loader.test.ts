import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadManifests } from "../../lib/config/load";
import {
  CHANGED_WHILE_READ_RETRIES,
  ConfigLoader,
  IN_PROCESS_MAX_BYTES,
  retryReload,
} from "../../lib/daemon/config-loader";
import { ManifestWatch } from "../../lib/daemon/manifest-watch";

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

test("a load that failed on a file read in the middle of its write is retried, a few times at most", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vipd-loader-"));
  const loader = new ConfigLoader();
  const pools = join(dir, "pools.yaml");
  const text = readFileSync(FIXTURE, "utf8");
  writeFileSync(pools, text);
  const watch = new ManifestWatch([pools], () => undefined, 0);
  try {
    const first = await loader.load([pools], undefined);
    assert.ok(first.ok, first.ok ? "" : first.errors.join("; "));
    // The reload stamps the files, then reads the first part of a write: cut inside a flow mapping.
    const cut = text.indexOf("{", text.indexOf("kind: Service")) + 3;
    writeFileSync(pools, text.slice(0, cut));
    watch.markRead();
    const partial = await loader.load([pools], first.active);
    assert.equal(partial.ok, false, "the cut file does not load");
    assert.equal(retryReload(partial, watch.changedOnDisk(), 0), false, "unchanged since read: a real error");
    // The rest of the write lands while the load ran (a different size and time).
    await new Promise((resolve) => setTimeout(resolve, 5));
    writeFileSync(pools, text + "# done\n");
    assert.equal(watch.changedOnDisk(), true);
    assert.equal(retryReload(partial, true, 0), true, "changed since read: load again");
    assert.equal(retryReload(partial, true, CHANGED_WHILE_READ_RETRIES), false, "not forever");
    assert.equal(retryReload(first, true, 0), false, "a good load is kept even if the files moved on");
    watch.markRead();
    const whole = await loader.load([pools], first.active);
    assert.ok(whole.ok, whole.ok ? "" : whole.errors.join("; "));
  } finally {
    loader.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
