// The metrics text passes `promtool check metrics` (a scrape of a real daemon is checked in
// test/lab/daemon-lab.test.ts) and says which build runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildInfo } from "../../lib/daemon/build-info";
import { createMetrics } from "../../lib/daemon/metrics";
import { promtool } from "./promtool";

test("vipd_build_info carries the version and the git revision of this build", async () => {
  const metrics = createMetrics({ version: "9.8.7", revision: "abcdef123456" });
  const text = await metrics.registry.metrics();
  assert.match(text, /^# TYPE vipd_build_info gauge$/m);
  assert.match(
    text,
    new RegExp(
      `^vipd_build_info\\{version="9\\.8\\.7",revision="abcdef123456",nodejs="${process.versions.node}"\\} 1$`,
      "m",
    ),
  );
  // The default comes from dist/lib/build-info.json, written by `npm run build` from this git checkout.
  const build = buildInfo();
  assert.match(build.revision, /^[0-9a-f]{12}(-dirty)?$/, "a build from a git checkout records its commit");
  assert.match(await createMetrics().registry.metrics(), new RegExp(`revision="${build.revision}"`));
});

test("no gauge or histogram is named _total, and promtool check metrics finds nothing", async () => {
  const metrics = createMetrics();
  metrics.poolAddresses.set({ pool: "p" }, 10);
  metrics.poolAddressesInUse.set({ pool: "p" }, 2);
  metrics.failoverSeconds.observe(0.2);
  metrics.gossipPackets.inc({ direction: "in", type: "ping" });
  metrics.addressDivergences.inc({ reason: "EPERM" });
  metrics.vipsNotHeld.set(1);
  const text = await metrics.registry.metrics();
  const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => ({ name, type }));
  assert.ok(types.length > 20, `parsed ${types.length} metric families`);
  const misnamed = types.filter((t) => t.name.endsWith("_total") && t.type !== "counter");
  assert.deepEqual(misnamed, [], "only counters end in _total");
  for (const name of [
    "vipd_allocator_addresses",
    "vipd_allocator_addresses_in_use",
    "nodejs_active_handles",
    "vipd_vips_not_held",
    "vipd_address_divergences_total",
  ])
    assert.ok(
      types.some((t) => t.name === name),
      `${name} is exported`,
    );
  const check = promtool(["check", "metrics"], text);
  assert.equal(check.code, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
  assert.equal((check.stdout + check.stderr).trim(), "", "promtool has no complaint");
});
