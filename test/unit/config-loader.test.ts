import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigLoader, IN_PROCESS_MAX_BYTES, manifestBytes } from "../../lib/daemon/config-loader";

const FIXTURE = join(__dirname, "..", "..", "..", "test", "fixtures", "config", "seed.yaml");

function bigManifest(path: string): void {
  const docs = [
    "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: big}\nspec: {addresses: [198.18.64.0/18]}",
    "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: all}\nspec: {ipAddressPools: [big]}",
  ];
  for (let i = 0; docs.join("\n---\n").length <= IN_PROCESS_MAX_BYTES; i++)
    docs.push(
      `apiVersion: v1\nkind: Service\nmetadata: {name: s${i}}\nspec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}]}`,
    );
  writeFileSync(path, docs.join("\n---\n") + "\n");
}

test("a small config loads on the main thread with no worker; a large one in a worker, which goes when small again", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vipd-loader-"));
  const loader = new ConfigLoader();
  try {
    assert.ok(manifestBytes([FIXTURE]) <= IN_PROCESS_MAX_BYTES);
    loader.warm([FIXTURE]);
    assert.equal(loader.workerRunning, false, "no worker warmed for a small config");
    const small = await loader.load([FIXTURE], undefined);
    assert.equal(small.ok, true);
    assert.equal(loader.workerRunning, false);

    const big = join(dir, "big.yaml");
    bigManifest(big);
    assert.ok(manifestBytes([big]) > IN_PROCESS_MAX_BYTES);
    const large = await loader.load([big], undefined);
    assert.equal(large.ok, true, large.ok ? "" : large.errors.join("; "));
    assert.equal(loader.workerRunning, true, "the large config went to a worker, kept warm for the next");

    const again = await loader.load([FIXTURE], undefined);
    assert.equal(again.ok, true);
    assert.equal(loader.workerRunning, false, "back to a small config: the worker is gone");
    const broken = join(dir, "broken.yaml");
    writeFileSync(broken, "kind: [unclosed\n");
    const bad = await loader.load([broken], undefined);
    assert.equal(bad.ok, false, "errors come back as an outcome, in-process too");
  } finally {
    loader.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
